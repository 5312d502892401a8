/**
 * The archive writer and reader on their own, in process: what goes in comes out byte for byte,
 * the indexed gzip members say how long the archive is, and a damaged one is refused.
 */
import {expect} from 'chai'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import zlib from 'node:zlib'

import {readMemberLayout} from '../../src/lib/archive/gzip-inflate.js'
import {extractDatabase, readArchiveMetadata, writeArchive} from '../../src/lib/archive/index.js'
import {LibraryBackupError} from '../../src/lib/errors.js'
import {makeLibraryFile, sha256File} from '../helpers/libraries.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

const DESCRIBE = {
  vpo_version: '0.0.0-test',
  schema_version: 27,
  created_at: '2026-03-01T12:00:00Z',
  file_count: 300,
  total_library_size_bytes: 123_456_789,
}

async function archiveOfFile(databasePath: string): Promise<string> {
  const archivePath = path.join(makeTempDir('vpo-archive'), 'vpo-library-2026-03-01T120000Z.tar.gz')
  await writeArchive({archivePath, databasePath, knownMetadata: DESCRIBE, durable: false})
  return archivePath
}

async function rejection(promise: Promise<unknown>): Promise<LibraryBackupError> {
  try {
    await promise
  } catch (error) {
    return error as LibraryBackupError
  }

  throw new Error('expected a rejection')
}

describe('archive writer and reader', () => {
  let library: string

  before(() => {
    library = makeLibraryFile({files: 300, walFiles: 0, seed: 7})
  })

  after(() => cleanupTempDirs())

  it('round-trips a library byte for byte, with the metadata it was given and the checksum it measured', async () => {
    const archive = await archiveOfFile(library)
    const out = path.join(makeTempDir('vpo-out'), 'library.db')
    const extracted = await extractDatabase(archive, out)
    expect(sha256File(out)).to.equal(sha256File(library))
    expect(extracted.checksumVerified).to.equal(true)
    expect(extracted.metadata).to.deep.include({
      ...DESCRIBE,
      database_size_bytes: fs.statSync(library).size,
      database_sha256: sha256File(library),
    })
    expect(await readArchiveMetadata(archive)).to.deep.equal(extracted.metadata)
  })

  it('writes indexed gzip members whose headers and trailers add up to the whole file and all it inflates to', async () => {
    const data = path.join(makeTempDir('vpo-lib'), 'big.db')
    fs.writeFileSync(data, crypto.randomBytes(5 * 1024 * 1024 + 123))
    const archive = await archiveOfFile(data)
    const layout = await readMemberLayout(archive)
    expect(layout.members, 'a member per 2 MiB of database, plus the metadata and tar headers').to.be.greaterThan(3)
    expect(layout.end).to.equal(layout.fileSize)
    expect(layout.cutShort).to.equal(false)
    expect(layout.inflatedBytes).to.equal(zlib.gunzipSync(fs.readFileSync(archive)).length)
  })

  it('tells an archive cut short, and one with bytes appended, from a whole one by its member layout', async () => {
    const archive = await archiveOfFile(library)
    const bytes = fs.readFileSync(archive)
    const cut = path.join(path.dirname(archive), 'cut.tar.gz')
    fs.writeFileSync(cut, bytes.subarray(0, -100))
    const cutLayout = await readMemberLayout(cut)
    expect(cutLayout.end < cutLayout.fileSize || cutLayout.cutShort, 'the cut archive looks whole').to.equal(true)

    const padded = path.join(path.dirname(archive), 'padded.tar.gz')
    fs.writeFileSync(padded, Buffer.concat([bytes, Buffer.from('appended by someone else')]))
    const paddedLayout = await readMemberLayout(padded)
    expect(paddedLayout.end).to.equal(bytes.length)
    expect(paddedLayout.fileSize).to.be.greaterThan(bytes.length)
  })

  it('refuses an archive with one byte changed inside the database (exit 3), naming the archive', async () => {
    const archive = await archiveOfFile(library)
    const bytes = fs.readFileSync(archive)
    bytes[Math.floor(bytes.length / 2)] ^= 0xff
    fs.writeFileSync(archive, bytes)
    const error = await rejection(extractDatabase(archive, path.join(makeTempDir('vpo-out'), 'library.db')))
    expect(error).to.be.instanceOf(LibraryBackupError)
    expect(error.exitCode).to.equal(3)
    expect(error.message).to.include(archive)
  })

  it('refuses a file that is not gzip at all (exit 3) rather than reading it as a backup', async () => {
    const notArchive = path.join(makeTempDir('vpo-archive'), 'vpo-library-2026-03-01T120000Z.tar.gz')
    fs.writeFileSync(notArchive, 'this is a text file, not a backup\n')
    const error = await rejection(readArchiveMetadata(notArchive))
    expect(error.exitCode).to.equal(3)
  })
})
