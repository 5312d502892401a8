/**
 * The use cases on a target that is neither a directory nor S3: with no `remote` switch left, the
 * in-memory target must get the same answers through the contract alone (write a backup, list and
 * check it, read another tool's layout through a download, copy it out), and leave no scratch
 * file behind.
 */
import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'

import {TEMP_PREFIX} from '../../src/lib/fs/temp-files.js'
import {copyArchive} from '../../src/lib/repository/copy-archive.js'
import {listBackups} from '../../src/lib/repository/listing.js'
import {writeBackup} from '../../src/lib/repository/write-backup.js'
import {LocalDirectory} from '../../src/lib/storage/local-directory.js'
import {MemoryTarget} from '../../src/lib/storage/memory.js'
import {makeDataDir} from '../helpers/libraries.js'
import {writePythonArchive} from '../helpers/python-archives.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

describe('use cases on the in-memory target', function () {
  this.timeout(60_000)

  after(() => cleanupTempDirs())

  it('writes, lists as whole, tells a cut copy and a Python-layout archive apart, and copies out identical bytes', async () => {
    const library = makeDataDir({files: 300, walFiles: 3})
    const target = new MemoryTarget()
    const made = await writeBackup({
      databasePath: library.databasePath,
      destination: {target},
      kind: 'backup',
      vpoVersion: '0.1.0',
      assertLockHeld() {},
    })
    const [stored] = await target.list(() => true)
    expect(made.path).to.equal(target.addressOf(stored.name))

    const bytes = await target.readHead(stored.name, stored.sizeBytes)
    target.put('vpo-library-2020-01-01T000000Z.tar.gz', bytes.subarray(0, -100))
    const python = path.join(makeTempDir('vpo-python'), 'python.tar.gz')
    writePythonArchive(library.databasePath, python, {
      vpo_version: '0.9.2',
      schema_version: 27,
      created_at: '2019-02-05T14:30:22Z',
      database_size_bytes: fs.statSync(library.databasePath).size,
      file_count: 300,
      total_library_size_bytes: 1,
      compression: 'gzip',
    })
    target.put('vpo-library-2019-02-05T14-30-22Z.tar.gz', fs.readFileSync(python))

    const listing = await listBackups(target)
    const byName = Object.fromEntries(listing.backups.map((entry) => [entry.filename, entry]))
    expect(byName[stored.name]).to.deep.include({whole: true})
    expect(byName[stored.name].metadata?.file_count).to.equal(library.summary.fileCount)
    expect(byName['vpo-library-2020-01-01T000000Z.tar.gz'].whole).to.equal(false)
    expect(byName['vpo-library-2020-01-01T000000Z.tar.gz'].damage).to.match(/truncated/)
    // No recorded length: read through a download into scratch, then judged by its members.
    expect(byName['vpo-library-2019-02-05T14-30-22Z.tar.gz']).to.deep.include({whole: true})
    expect(byName['vpo-library-2019-02-05T14-30-22Z.tar.gz'].metadata?.vpo_version).to.equal('0.9.2')

    const outside = makeTempDir('vpo-copy')
    const copied = await copyArchive(
      {target, name: stored.name, sizeBytes: stored.sizeBytes},
      new LocalDirectory(outside),
    )
    expect(fs.readFileSync(copied.path).equals(bytes)).to.equal(true)
    expect(fs.readdirSync(outside)).to.deep.equal([stored.name])

    const scratch = await target.prepareStaging()
    expect(fs.readdirSync(scratch).filter((name) => name.startsWith(TEMP_PREFIX))).to.deep.equal([])
  })
})
