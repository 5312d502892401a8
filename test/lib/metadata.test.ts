/**
 * backup_metadata.json: what parseMetadata accepts (this plugin's and the Python tool's metadata)
 * and what it refuses as an invalid archive, naming the archive and the field.
 */
import {expect} from 'chai'

import {parseMetadata} from '../../src/lib/archive/index.js'
import {LibraryBackupError} from '../../src/lib/errors.js'

const METADATA_PATH = '/backups/x.tar.gz'

function parse(value: unknown) {
  return parseMetadata(Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)), METADATA_PATH)
}

/** Every key of `record` but `field`. */
function without(record: Record<string, unknown>, field: string): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([key]) => key !== field))
}

/** parseMetadata refuses `value` as an invalid archive (exit 3), naming the archive and `field`. */
function rejects(value: unknown, field: string): void {
  let caught: unknown
  try {
    parse(value)
  } catch (error) {
    caught = error
  }

  expect(caught, `accepted ${JSON.stringify(value)}`).to.be.instanceOf(LibraryBackupError)
  const error = caught as LibraryBackupError
  expect(error.code).to.equal('INVALID_ARCHIVE')
  expect(error.exitCode).to.equal(3)
  expect(error.message).to.include(METADATA_PATH)
  expect(error.message).to.include(field)
}

describe('parseMetadata', () => {
  const good = {
    vpo_version: '0.41.0',
    schema_version: 27,
    created_at: '2026-02-05T14:30:22Z',
    database_size_bytes: 52_400_000,
    file_count: 1523,
    total_library_size_bytes: 9_876_543_210_000,
    compression: 'gzip',
    database_sha256: 'ab'.repeat(32),
  }

  it('accepts this plugin’s metadata and ignores extra fields', () => {
    expect(parse({...good, host: 'nas', comment: 'extra'})).to.deep.equal(good)
  })

  it('accepts metadata without a checksum, as VPO’s Python tool writes it', () => {
    const parsed = parse(without(good, 'database_sha256'))
    expect(parsed.database_sha256).to.equal(undefined)
    expect(parsed.file_count).to.equal(1523)
  })

  it('rejects a missing field or a field of the wrong type, naming the field', () => {
    for (const field of Object.keys(good).filter((key) => key !== 'database_sha256')) {
      rejects(without(good, field), field)
    }

    rejects({...good, schema_version: '27'}, 'schema_version')
    rejects({...good, schema_version: 0}, 'schema_version')
    rejects({...good, file_count: -1}, 'file_count')
    rejects({...good, file_count: 1.5}, 'file_count')
    rejects({...good, database_size_bytes: '52400000'}, 'database_size_bytes')
    rejects({...good, total_library_size_bytes: null}, 'total_library_size_bytes')
    rejects({...good, vpo_version: 41}, 'vpo_version')
    rejects({...good, created_at: '5 Feb 2026'}, 'created_at')
    rejects({...good, created_at: '2026-02-05T14:30:22+02:00'}, 'created_at')
    rejects({...good, compression: 'bzip2'}, 'compression')
    rejects({...good, database_sha256: 'not-a-checksum'}, 'database_sha256')
    rejects({...good, database_sha256: 'ab'.repeat(31)}, 'database_sha256')
  })

  it('rejects what is not a JSON object', () => {
    rejects('{"vpo_version": ', 'backup_metadata.json')
    rejects('[1, 2, 3]', 'backup_metadata.json')
    rejects('null', 'backup_metadata.json')
  })
})
