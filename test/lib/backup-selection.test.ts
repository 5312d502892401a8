/**
 * Listing a backup location and choosing a backup from it, in process, on real archives: newest
 * first, damage found from the archive itself, and the selection rules of
 * repository/backup-selection.ts (`restore --latest`, `verify --latest`, `--max-age`, `copy --latest`)
 * passing over what a careless restore would regret (a safety backup, a cut archive, a date in the
 * future) and never past a newer backup this process cannot open.
 */
import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'

import {writeArchive} from '../../src/lib/archive/index.js'
import {encryptFile, loadIdentities, parseRecipients} from '../../src/lib/encryption/index.js'
import {LibraryBackupError} from '../../src/lib/errors.js'
import {backupFileName, formatCreatedAt} from '../../src/lib/repository/backup-names.js'
import {
  backupsToVerify,
  latestOf,
  latestToRestore,
  newestReadable,
  newestVerified,
} from '../../src/lib/repository/backup-selection.js'
import {chooseBackup} from '../../src/lib/repository/choose-backup.js'
import {listBackups} from '../../src/lib/repository/listing.js'
import {LocalDirectory} from '../../src/lib/storage/local-directory.js'
import {MemoryTarget} from '../../src/lib/storage/memory.js'
import {type LocalKey, makeLocalKey} from '../helpers/age-files.js'
import {makeLibraryFile} from '../helpers/libraries.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

const DAY = 24 * 60 * 60 * 1000

describe('which backup', function () {
  this.timeout(60_000)

  let library: string

  before(() => {
    library = makeLibraryFile({files: 200, walFiles: 0, seed: 3})
  })

  after(() => cleanupTempDirs())

  /** A real archive of the test library, made at `date`. */
  async function writeArchiveAt(archivePath: string, date: Date): Promise<string> {
    await writeArchive({
      archivePath,
      databasePath: library,
      durable: false,
      knownMetadata: {
        vpo_version: '0.0.0-test',
        schema_version: 27,
        created_at: formatCreatedAt(date),
        file_count: 200,
        total_library_size_bytes: 1000,
      },
    })
    return archivePath
  }

  describe('listing and choosing a backup in a local directory', () => {
    /** A real archive made at `date`, under the name a backup then gets. */
    async function backupAt(dir: string, date: Date, kind: 'pre-restore' | 'regular' = 'regular'): Promise<string> {
      return writeArchiveAt(path.join(dir, backupFileName(date, {kind})), date)
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

  describe('the selection rules on the in-memory target', () => {
    let key: LocalKey
    const now = Date.now()

    before(async () => {
      key = await makeLocalKey(makeTempDir('vpo-key'), 'key.txt')
    })

    /** A real archive of the test library made at `date`, stored under `name` (default: a backup's name). */
    async function store(
      target: MemoryTarget,
      date: Date,
      options: {encrypted?: boolean; kind?: 'damaged' | 'pre-restore'; name?: string} = {},
    ): Promise<string> {
      const plain = await writeArchiveAt(path.join(makeTempDir('vpo-archive'), 'backup.tar.gz'), date)
      let file = plain
      if (options.encrypted) {
        file = `${plain}.age`
        await encryptFile(plain, file, parseRecipients([key.recipient]))
      }

      const name = options.name ?? backupFileName(date, {encrypted: options.encrypted, kind: options.kind})
      target.put(name, fs.readFileSync(file))
      return name
    }

    function cutShort(target: MemoryTarget, name: string, bytes: Buffer): void {
      target.put(name, bytes.subarray(0, -200))
    }

    async function bytesOf(target: MemoryTarget, name: string): Promise<Buffer> {
      const found = await target.stat(name)
      return target.readHead(name, found!.sizeBytes)
    }

    it('restore --latest takes the newest backup made on purpose: not a newer safety or --allow-damaged backup', async () => {
      const target = new MemoryTarget()
      await store(target, new Date(now - 4 * DAY))
      const custom = await store(target, new Date(now - 3 * DAY), {name: 'vpo-library-weekly.tar.gz'})
      await store(target, new Date(now - 2 * DAY), {kind: 'pre-restore'})
      await store(target, new Date(now - DAY), {kind: 'damaged'})

      const listing = await listBackups(target)
      expect(listing.backups).to.have.length(4)
      expect(latestToRestore(listing)?.path).to.equal(target.addressOf(custom))
      expect(newestReadable(listing)?.path).to.equal(target.addressOf(custom))
      // verify --latest checks that same one; without --latest, everything but the --allow-damaged one.
      expect(backupsToVerify(listing, {latest: true}).map((entry) => entry.filename)).to.deep.equal([custom])
      expect(backupsToVerify(listing, {}).map((entry) => entry.kind)).to.deep.equal([
        'pre-restore',
        'custom',
        'regular',
      ])
    })

    it('passes over a backup dated in the future while an honest one is there, and takes it when it is alone', async () => {
      const target = new MemoryTarget()
      const future = await store(target, new Date(now + 30 * DAY))
      const honest = await store(target, new Date(now - DAY))

      const listing = await listBackups(target)
      expect(listing.backups[0].filename, 'listed newest first').to.equal(future)
      expect(latestToRestore(listing)?.filename).to.equal(honest)
      expect(backupsToVerify(listing, {latest: true})[0].filename).to.equal(honest)

      await target.remove(honest)
      expect(latestToRestore(await listBackups(target))?.filename).to.equal(future)
    })

    it('--max-age never counts a verified backup dated in the future, even alone: it is named apart', () => {
      const at = (offset: number, deliberate = true) => ({
        path: `b${offset}`,
        ok: true,
        deliberate,
        createdAt: new Date(now + offset),
      })
      const future = at(30 * DAY)
      const honest = at(-DAY)
      const safety = at(-1000, false)
      expect(newestVerified([honest, future, safety], new Date(now))).to.deep.equal({
        newest: honest,
        futureDated: future,
      })
      expect(newestVerified([future], new Date(now))).to.deep.equal({newest: undefined, futureDated: future})
      expect(newestVerified([{...honest, ok: false}], new Date(now)).newest).to.equal(undefined)
    })

    it('restore --latest passes over a newer backup that is cut short; verify --latest checks that one (and fails it)', async () => {
      const target = new MemoryTarget()
      const good = await store(target, new Date(now - 2 * DAY))
      const cut = await store(target, new Date(now - DAY))
      cutShort(target, cut, await bytesOf(target, cut))

      const listing = await listBackups(target)
      expect(listing.backups.map((entry) => [entry.filename, entry.whole])).to.deep.equal([
        [cut, false],
        [good, true],
      ])
      expect(latestToRestore(listing)?.filename).to.equal(good)
      expect(backupsToVerify(listing, {latest: true})[0].filename).to.equal(cut)
    })

    it('a newer encrypted backup no key opens is a key error, never a quiet restore of an older one', async () => {
      const target = new MemoryTarget()
      await store(target, new Date(now - 2 * DAY))
      const locked = await store(target, new Date(now - DAY), {encrypted: true})

      const listing = await listBackups(target)
      expect(listing.backups[0]).to.deep.include({filename: locked, locked: true})
      let refused: unknown
      try {
        latestToRestore(listing)
      } catch (error) {
        refused = error
      }

      expect(refused).to.be.instanceOf(LibraryBackupError)
      expect((refused as LibraryBackupError).code).to.equal('KEY_ERROR')
      expect((refused as LibraryBackupError).message).to.include(target.addressOf(locked))

      // With its key, that newer backup is the one restored.
      const identities = await loadIdentities([key.identityFile])
      expect(latestToRestore(await listBackups(target, {identities}), identities)?.filename).to.equal(locked)
    })

    it('callers that read nothing (copy --latest, by the names alone) get the same rule', () => {
      const byName = [
        {name: 'planted', time: new Date(now + 30 * DAY)},
        {name: 'newest honest', time: new Date(now - DAY)},
        {name: 'older', time: new Date(now - 2 * DAY)},
      ]
      expect(latestOf(byName, (entry) => entry.time, new Date(now))?.name).to.equal('newest honest')
      expect(latestOf(byName.slice(0, 1), (entry) => entry.time, new Date(now))?.name).to.equal('planted')
      expect(latestOf([], (entry: {time: Date}) => entry.time)).to.equal(undefined)
    })
  })
})
