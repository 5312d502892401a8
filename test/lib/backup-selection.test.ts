/**
 * Listing a local backup directory and choosing "the latest" from it, in process, on real archives:
 * newest first, damage found from the archive itself, and `restore --latest` passing over what a
 * careless restore would regret (a safety backup, a cut archive, a date in the future).
 */
import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'

import {writeArchive} from '../../src/lib/archive/index.js'
import {backupFileName, formatCreatedAt} from '../../src/lib/repository/backup-names.js'
import {chooseBackup} from '../../src/lib/repository/choose-backup.js'
import {listBackups, newestReadable} from '../../src/lib/repository/listing.js'
import {LocalDirectory} from '../../src/lib/storage/local-directory.js'
import {makeLibraryFile} from '../helpers/libraries.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

const DAY = 24 * 60 * 60 * 1000

describe('listing and choosing a backup in a local directory', () => {
  let library: string

  before(() => {
    library = makeLibraryFile({files: 200, walFiles: 0, seed: 3})
  })

  after(() => cleanupTempDirs())

  /** A real archive of the test library made at `date`, under the name a backup then gets. */
  async function backupAt(dir: string, date: Date, kind: 'pre-restore' | 'regular' = 'regular'): Promise<string> {
    const archivePath = path.join(dir, backupFileName(date, {kind}))
    await writeArchive({
      archivePath,
      databasePath: library,
      durable: false,
      describe: {
        vpo_version: '0.0.0-test',
        schema_version: 27,
        created_at: formatCreatedAt(date),
        file_count: 200,
        total_library_size_bytes: 1000,
      },
    })
    return archivePath
  }

  function cutShort(archive: string): void {
    fs.truncateSync(archive, fs.statSync(archive).size - 200)
  }

  it('lists newest first, says which archive is cut short, and counts the bytes of all', async () => {
    const dir = makeTempDir('vpo-backups')
    const now = Date.now()
    const old = await backupAt(dir, new Date(now - 3 * DAY))
    const cut = await backupAt(dir, new Date(now - 2 * DAY))
    const safety = await backupAt(dir, new Date(now - DAY), 'pre-restore')
    cutShort(cut)
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'not a backup')

    const listing = await listBackups(new LocalDirectory(dir))
    expect(listing.backups.map((entry) => entry.path)).to.deep.equal([safety, cut, old])
    expect(listing.backups.map((entry) => entry.kind)).to.deep.equal(['pre-restore', 'regular', 'regular'])
    const [, damaged, whole] = listing.backups
    expect(damaged.whole).to.equal(false)
    expect(damaged.damage).to.be.a('string').and.not.equal('')
    expect(whole.whole).to.equal(true)
    expect(whole.metadata?.file_count).to.equal(200)
    expect(listing.totalSizeBytes).to.equal([old, cut, safety].reduce((sum, file) => sum + fs.statSync(file).size, 0))
  })

  it('restore --latest chooses the newest whole regular backup: not a newer safety backup, not a cut one', async () => {
    const dir = makeTempDir('vpo-backups')
    const now = Date.now()
    const good = await backupAt(dir, new Date(now - 3 * DAY))
    cutShort(await backupAt(dir, new Date(now - 2 * DAY)))
    await backupAt(dir, new Date(now - DAY), 'pre-restore')

    expect(await chooseBackup({latest: true, location: dir})).to.deep.equal({archive: good})
  })

  it('passes over a backup dated in the future while an honest one is there', async () => {
    const dir = makeTempDir('vpo-backups')
    const now = Date.now()
    const honest = await backupAt(dir, new Date(now - DAY))
    const future = await backupAt(dir, new Date(now + 30 * DAY))
    const listing = await listBackups(new LocalDirectory(dir))
    expect(listing.backups[0].path).to.equal(future)
    expect(newestReadable(listing)?.path).to.equal(honest)
    expect(await chooseBackup({latest: true, location: dir})).to.deep.equal({archive: honest})
  })

  it('says there is nothing to restore in an empty or missing directory, and names a missing file', async () => {
    const empty = makeTempDir('vpo-backups')
    const none = await chooseBackup({latest: true, location: empty})
    expect('error' in none && none.error.code).to.equal('BACKUP_NOT_FOUND')
    const missing = await chooseBackup({latest: true, location: path.join(empty, 'nowhere')})
    expect('error' in missing && missing.error.code).to.equal('BACKUP_NOT_FOUND')

    const named = path.join(empty, backupFileName(new Date()))
    const result = await chooseBackup({archive: named, location: empty})
    expect('missing' in result && result.missing).to.equal(`Backup file ${named} does not exist`)
  })
})
