/**
 * library:restore against what a careless admin or a second program does (issue 10): a `sudo` run
 * over a data directory that belongs to the daemon's user, a SQLite client that has the library
 * open without the plugin's lock, a dry run on a machine without a data directory, `--db` naming a
 * directory, and the container-entrypoint flags. Real processes, real files, real SQLite.
 */
import Database from 'better-sqlite3'
import {expect} from 'chai'
import {spawnSync} from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

import {parseJson, runCli} from '../helpers/cli.js'
import {expectJsonError} from '../helpers/expectations.js'
import {isRoot} from '../helpers/filesystems.js'
import {leftoverTempFiles, listArchives} from '../helpers/leftovers.js'
import {archiveOf, type DataDir, libraryContent, makeDataDir, treeState} from '../helpers/libraries.js'
import {describeCalls, observeCalls} from '../helpers/observed-calls.js'
import {canSwitchUser, openWithoutLock, runCliAs, userCanRunCli} from '../helpers/other-processes.js'
import {holdLibraryLock, startLibraryWriter} from '../helpers/processes.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

/** The unprivileged owner of the daemon's data directory (nobody:nogroup, present everywhere). */
const OWNER = {uid: 65_534, gid: 65_534}

function ownerOf(file: string): {gid: number; mode: number; uid: number} {
  const stats = fs.statSync(file)
  return {uid: stats.uid, gid: stats.gid, mode: stats.mode & 0o7777}
}

/** Hands a data directory and everything in it to `owner`, the library readable by its group only. */
function giveDataDir(data: DataDir, owner: {gid: number; uid: number}): void {
  for (const entry of ['', ...(fs.readdirSync(data.dataDir, {recursive: true}) as string[])]) {
    fs.chownSync(path.join(data.dataDir, entry), owner.uid, owner.gid)
  }

  fs.chmodSync(data.dataDir, 0o750)
  fs.chmodSync(data.databasePath, 0o640)
}

/** A path that does not exist directly under `/`, whose parent is therefore the root directory. */
function missingUnderRoot(): string {
  return path.join('/', `vpo-missing-${crypto.randomBytes(6).toString('hex')}`)
}

describe('library:restore hardening', function () {
  this.timeout(120_000)
  /** The library the archive holds: not the one any test restores over. */
  let source: DataDir
  let archive: string
  let archiveDigest: string

  before(async () => {
    source = makeDataDir({files: 400, walFiles: 10})
    archive = (await archiveOf(source)).path
    archiveDigest = libraryContent(source.databasePath).digest
    // Readable by other users too: some tests run the CLI as the data directory's owner.
    fs.chmodSync(path.dirname(archive), 0o755)
    fs.chmodSync(archive, 0o644)
  })

  after(cleanupTempDirs)

  function target(): DataDir {
    return makeDataDir({files: 300, walFiles: 5, seed: 7})
  }

  describe('ownership under sudo (issue 10 item 6)', () => {
    beforeEach(function () {
      if (!isRoot()) {
        console.log('      (skipped: these tests need root, to run as a sudo user does)')
        this.skip()
      }
    })

    it('a restore as root keeps the owner, group and mode 0640 of library.db; the safety backup and backups/ go to the owner', async () => {
      const data = target()
      giveDataDir(data, OWNER)
      const result = await runCli(['library:restore', archive, '--yes', '--json'], {env: data.env})
      expect(result.code, result.stderr).to.equal(0)
      expect(ownerOf(data.databasePath)).to.deep.equal({...OWNER, mode: 0o640})
      const safety = String(parseJson(result).safety_backup_path)
      expect(path.dirname(safety)).to.equal(data.backupDir)
      expect(ownerOf(safety)).to.deep.equal({...OWNER, mode: 0o600})
      expect(ownerOf(data.backupDir)).to.deep.equal({...OWNER, mode: 0o700})
      expect(libraryContent(data.databasePath).digest).to.equal(archiveDigest)
      // Nothing root-owned was left anywhere in the data directory (the lock included).
      for (const entry of fs.readdirSync(data.dataDir, {recursive: true}) as string[]) {
        expect(fs.statSync(path.join(data.dataDir, entry)).uid, entry).to.equal(OWNER.uid)
      }
    })

    it("a backup as root creates backups/ and the archive owned by the data directory's owner", async () => {
      const data = target()
      giveDataDir(data, OWNER)
      const result = await runCli(['library:backup', '--json'], {env: data.env})
      expect(result.code, result.stderr).to.equal(0)
      const made = String(parseJson(result).path)
      expect(path.dirname(made)).to.equal(data.backupDir)
      expect(ownerOf(data.backupDir)).to.deep.equal({...OWNER, mode: 0o700})
      expect(ownerOf(made)).to.deep.equal({...OWNER, mode: 0o600})
    })

    it("a restore as root onto a machine without a data directory creates it owned by the parent's owner", async () => {
      const parent = makeTempDir('vpo-home')
      fs.chownSync(parent, OWNER.uid, OWNER.gid)
      const dataDir = path.join(parent, 'vpo')
      const result = await runCli(['library:restore', archive, '--yes', '--json'], {env: {VPO_DATA_DIR: dataDir}})
      expect(result.code, result.stderr).to.equal(0)
      expect(ownerOf(dataDir)).to.deep.equal({...OWNER, mode: 0o700})
      expect(ownerOf(path.join(dataDir, 'library.db'))).to.include(OWNER)
      expect(fs.readdirSync(dataDir)).to.deep.equal(['library.db'])
    })

    it('after a sudo restore and a sudo backup, the owner itself can still back the library up', async function () {
      const data = target()
      giveDataDir(data, OWNER)
      fs.chmodSync(path.dirname(data.dataDir), 0o755)
      if (!canSwitchUser() || !userCanRunCli(OWNER.uid, OWNER.gid)) {
        console.log('      (skipped: setpriv is missing, or uid 65534 cannot read this checkout)')
        this.skip()
      }

      expect((await runCli(['library:restore', archive, '--yes'], {env: data.env})).code).to.equal(0)
      expect((await runCli(['library:backup'], {env: data.env})).code).to.equal(0)
      const home = makeTempDir('vpo-owner-home')
      fs.chownSync(home, OWNER.uid, OWNER.gid)
      const own = await runCliAs(OWNER.uid, OWNER.gid, ['library:backup', '--json'], {
        ...data.env,
        HOME: home,
        TMPDIR: home,
      })
      expect(own.code, own.stderr).to.equal(0)
      expect(ownerOf(String(parseJson(own).path))).to.deep.equal({...OWNER, mode: 0o600})
      expect(listArchives(data.backupDir)).to.have.lengthOf(3) // safety, sudo backup, the owner's
    })
  })

  describe('a connection that ignores the lock (items 7 and 16)', () => {
    it('an idle WAL reader: exit 4 saying another process has it open, the library unchanged, the safety backup reported; after it closes the restore succeeds', async () => {
      const data = target()
      const before = libraryContent(data.databasePath).digest
      const reader = await openWithoutLock(data.databasePath)
      let result
      try {
        expect(reader.journalMode).to.equal('wal')
        result = await runCli(['library:restore', archive, '--yes', '--json'], {env: data.env})
      } finally {
        await reader.stop()
      }

      const message = expectJsonError(result, 'DATABASE_LOCKED', 4)
      expect(message)
        .to.match(/another (process|connection)/i)
        .and.match(/open/)
      expect(message).not.to.match(/nothing was changed/i)
      expect(libraryContent(data.databasePath).digest).to.equal(before)
      expect(leftoverTempFiles(data.dataDir)).to.deep.equal([])
      // Item 16: the safety backup written before the swap failed is new, so the message names it.
      const safety = listArchives(data.backupDir)
      expect(safety).to.have.lengthOf(1)
      expect(message).to.include(path.join(data.backupDir, safety[0]))

      const retry = await runCli(['library:restore', archive, '--yes', '--json'], {env: data.env})
      expect(retry.code, retry.stderr).to.equal(0)
      expect(libraryContent(data.databasePath).digest).to.equal(archiveDigest)
    })

    it('a process that keeps writing: exit 4, none of its commits lost, no temp files; after it stops the restore succeeds', async () => {
      const data = target()
      const writer = await startLibraryWriter(data.databasePath, {warmup: 20})
      let result
      try {
        result = await runCli(['library:restore', archive, '--yes', '--no-safety-backup', '--json'], {env: data.env})
      } finally {
        await writer.stop()
      }

      const message = expectJsonError(result, 'DATABASE_LOCKED', 4)
      expect(message).to.match(/another (process|connection)/i)
      expect(message).not.to.match(/nothing was changed/i)
      expect(leftoverTempFiles(data.dataDir)).to.deep.equal([])
      // The writer's every commit is still there: its rows number exactly its commit count.
      const db = libraryContent(data.databasePath)
      expect(db.integrity).to.equal('ok')
      expect(db.digest).not.to.equal(archiveDigest)
      const counted = countWriterRows(data.databasePath)
      expect(counted.rows).to.equal(counted.commits).and.be.greaterThan(0)

      const retry = await runCli(['library:restore', archive, '--yes', '--no-safety-backup'], {env: data.env})
      expect(retry.code, retry.stderr).to.equal(0)
      expect(libraryContent(data.databasePath).digest).to.equal(archiveDigest)
    })

    it('with the lock held by another process, restore --latest exits 4 and changes nothing', async () => {
      const data = target()
      expect((await runCli(['library:backup'], {env: data.env})).code).to.equal(0)
      const before = treeState(data.dataDir)
      const holder = await holdLibraryLock(data.databasePath)
      try {
        const result = await runCli(['library:restore', '--latest', '--yes', '--json'], {env: data.env})
        expectJsonError(result, 'DATABASE_LOCKED', 4)
      } finally {
        await holder.release()
      }

      expect(treeState(data.dataDir)).to.deep.equal(before)
    })
  })

  describe('--dry-run on a machine without a data directory (item 12)', () => {
    it('works with the data directory missing under /, and writes only in its temp directory, which it leaves empty', async () => {
      const missing = missingUnderRoot()
      const tmp = makeTempDir('vpo-private-tmp')
      const result = await runCli(
        ['library:restore', archive, '--dry-run', '--json', '--db', path.join(missing, 'vpo', 'library.db')],
        {env: {TMPDIR: tmp}},
      )
      expect(result.code, result.stderr).to.equal(0)
      expect(parseJson(result).dry_run).to.equal(true)
      expect(fs.existsSync(missing)).to.equal(false)
      expect(fs.readdirSync(tmp)).to.deep.equal([])
    })

    it("as a user who cannot write the data directory's parent (nor /): works, nothing created", async function () {
      if (!canSwitchUser() || !userCanRunCli(OWNER.uid, OWNER.gid)) {
        console.log('      (skipped: needs root, setpriv, and a checkout uid 65534 can read)')
        this.skip()
      }

      const parent = makeTempDir('vpo-readonly-parent')
      fs.chmodSync(parent, 0o755) // root's: not writable by the user
      const tmp = makeTempDir('vpo-user-tmp')
      fs.chownSync(tmp, OWNER.uid, OWNER.gid)
      for (const db of [path.join(parent, 'vpo', 'library.db'), path.join(missingUnderRoot(), 'library.db')]) {
        const result = await runCliAs(OWNER.uid, OWNER.gid, ['library:restore', archive, '--dry-run', '--db', db], {
          HOME: tmp,
          TMPDIR: tmp,
        })
        expect(result.code, `${db}: ${result.stderr}`).to.equal(0)
        expect(result.stdout).to.include('No changes made (dry run).')
        expect(fs.readdirSync(tmp)).to.deep.equal([])
      }

      expect(fs.readdirSync(parent)).to.deep.equal([])
      // A temp directory the user may not write to: a permission problem, named as one.
      const denied = await runCliAs(
        OWNER.uid,
        OWNER.gid,
        ['library:restore', archive, '--dry-run', '--json', '--db', path.join(parent, 'vpo', 'library.db')],
        {HOME: tmp, TMPDIR: parent},
      )
      const message = expectJsonError(denied, 'IO_ERROR', 1)
      expect(message)
        .to.match(/Permission denied/)
        .and.include(parent)
      expect(message).not.to.match(/not a valid VPO backup/)
    })

    it('a temp directory it cannot write to is reported as a disk problem, not blamed on the archive', async function () {
      if (!isRoot()) {
        console.log('      (skipped: needs root to mount a read-only tmpfs)')
        this.skip()
      }

      const tmp = makeTempDir('vpo-ro-tmp')
      expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64m', 'tmpfs', tmp]).status).to.equal(0)
      try {
        const data = target()
        const result = await runCli(['library:restore', archive, '--dry-run', '--json'], {
          env: {...data.env, TMPDIR: tmp},
        })
        const message = expectJsonError(result, 'IO_ERROR', 1)
        expect(message).to.match(/read-only/)
        expect(message).to.include(tmp)
        expect(message).not.to.match(/not a valid VPO backup/)
      } finally {
        spawnSync('umount', [tmp])
      }
    })
  })

  describe('--db naming a directory (item 13)', () => {
    for (const dryRun of [false, true]) {
      it(`exit 1 saying it is a directory, before extracting anything${dryRun ? ' (--dry-run)' : ''}`, async () => {
        const data = target()
        const before = treeState(data.dataDir)
        const observed = observeCalls()
        const tmp = makeTempDir('vpo-private-tmp')
        const args = [
          'library:restore',
          archive,
          '--yes',
          '--json',
          '--db',
          data.dataDir,
          ...(dryRun ? ['--dry-run'] : []),
        ]
        const result = await runCli(args, {env: {...observed.env, TMPDIR: tmp}})
        const message = expectJsonError(result, 'NOT_A_LIBRARY', 1)
        expect(message)
          .to.include(data.dataDir)
          .and.match(/is a directory/)
        const created = observed.calls().filter((call) => call.mode !== undefined)
        expect(created, describeCalls(created)).to.deep.equal([])
        expect(treeState(data.dataDir)).to.deep.equal(before)
        expect(fs.readdirSync(tmp)).to.deep.equal([])
      })
    }
  })

  describe('container entrypoint flags', () => {
    it('--if-db-not-exists exits 0 without opening the archive when a library exists', async () => {
      const data = target()
      const bogus = path.join(makeTempDir('vpo-bogus'), 'not-an-archive.tar.gz')
      fs.writeFileSync(bogus, 'not an archive at all')
      const before = treeState(data.dataDir)
      const observed = observeCalls()
      const result = await runCli(['library:restore', bogus, '--yes', '--if-db-not-exists', '--json'], {
        env: {...data.env, ...observed.env},
      })
      expect(result.code, result.stderr).to.equal(0)
      expect(parseJson(result)).to.include({success: true, restored: false})
      expect(observed.calls().filter((call) => call.path === bogus)).to.deep.equal([])
      expect(treeState(data.dataDir)).to.deep.equal(before)
    })

    it('--if-backup-exists exits 0 when the backup directory is missing or empty, creating nothing', async () => {
      const data = target()
      const before = treeState(data.dataDir)
      const missing = await runCli(['library:restore', '--latest', '--yes', '--if-backup-exists', '--json'], {
        env: data.env,
      })
      expect(missing.code, missing.stderr).to.equal(0)
      expect(parseJson(missing)).to.include({success: true, restored: false})
      expect(treeState(data.dataDir)).to.deep.equal(before)

      fs.mkdirSync(data.backupDir)
      const empty = await runCli(['library:restore', '--latest', '--yes', '--if-backup-exists', '--json'], {
        env: data.env,
      })
      expect(empty.code, empty.stderr).to.equal(0)
      expect(parseJson(empty)).to.include({success: true, restored: false})
      expect(fs.readdirSync(data.backupDir)).to.deep.equal([])
    })

    it('a first start with neither library nor backups exits 0 and creates no data directory', async () => {
      const dataDir = path.join(makeTempDir('vpo-fresh'), 'vpo')
      const result = await runCli(
        ['library:restore', '--latest', '--yes', '--if-db-not-exists', '--if-backup-exists'],
        {env: {VPO_DATA_DIR: dataDir}},
      )
      expect(result.code, result.stderr).to.equal(0)
      expect(fs.existsSync(dataDir)).to.equal(false)
    })
  })
})

/** The rows startLibraryWriter added and the commits it counted, read from a private copy. */
function countWriterRows(databasePath: string): {commits: number; rows: number} {
  const copy = path.join(makeTempDir('vpo-count'), 'copy.db')
  fs.copyFileSync(databasePath, copy)
  if (fs.existsSync(`${databasePath}-wal`)) fs.copyFileSync(`${databasePath}-wal`, `${copy}-wal`)
  const db = new Database(copy, {readonly: true})
  try {
    const commits = db.prepare("SELECT value FROM _meta WHERE key = 'writer_commits'").get() as
      undefined | {value: string}
    const rows = db.prepare("SELECT COUNT(*) AS n FROM files WHERE path LIKE '/media/library/Incoming/%'").get() as {
      n: number
    }
    return {commits: Number(commits?.value ?? -1), rows: rows.n}
  } finally {
    db.close()
  }
}
