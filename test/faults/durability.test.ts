/**
 * What survives a power cut and what a damaged archive cannot sneak past (issue 10 item 17). Each
 * test here fails when one durability or integrity step is removed from src/: the fsync calls are
 * observed from inside the real CLI in the order they happen, a stale WAL that SQLite would replay
 * is left beside the library, an archive's database is damaged where only quick_check looks, and
 * file modes are checked under a permissive and a strict umask.
 */
import Database from 'better-sqlite3'
import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'

import {useArchivedLibrary} from '../helpers/archived-libraries.js'
import {parseJson, runCli} from '../helpers/cli.js'
import {expectJsonError} from '../helpers/expectations.js'
import {TEMP_PREFIX} from '../helpers/leftovers.js'
import {type DataDir, libraryContent, makeDataDir, sha256File, treeState} from '../helpers/libraries.js'
import {describeCalls, indexOfCall, observeCalls, type ObservedCall} from '../helpers/observed-calls.js'
import {runCliWithUmask} from '../helpers/other-processes.js'
import {archiveMetadata, extractArchiveMember, writeArchiveWithPython} from '../helpers/python-archives.js'
import {python} from '../helpers/python.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

const SIDECARS = ['-wal', '-shm', '-journal']

function modeOf(file: string): number {
  return fs.statSync(file).mode & 0o7777
}

const isTemp = (file: string) => path.basename(file).startsWith(TEMP_PREFIX)

describe('durability and integrity steps that a test must notice (item 17)', function () {
  this.timeout(120_000)
  const source = useArchivedLibrary({files: 400, walFiles: 10})

  after(cleanupTempDirs)

  function target(): DataDir {
    return makeDataDir({files: 300, walFiles: 5, seed: 11})
  }

  describe('durability calls, observed in order', () => {
    it('restore: fsync of the extracted copy, then the rename over library.db, then fsync of the data directory', async () => {
      const data = target()
      const observed = observeCalls()
      const result = await runCli(['library:restore', source.archive, '--yes', '--no-safety-backup'], {
        env: {...data.env, ...observed.env},
      })
      expect(result.code, result.stderr).to.equal(0)
      const calls = observed.calls()
      const trace = describeCalls(calls)
      const swap = indexOfCall(calls, (call) => call.op === 'rename' && call.to === data.databasePath)
      expect(swap, `no rename over library.db:\n${trace}`).to.be.greaterThan(-1)
      const extracted = calls[swap].path
      expect(path.dirname(extracted)).to.equal(data.dataDir)
      expect(isTemp(extracted), extracted).to.equal(true)
      const fileSynced = calls
        .slice(0, swap)
        .some((call: ObservedCall) => call.op === 'fsync' && call.path === extracted)
      expect(fileSynced, `the extracted copy is not fsynced before the rename:\n${trace}`).to.equal(true)
      const dirSynced = indexOfCall(calls, (call) => call.op === 'fsync' && call.path === data.dataDir, swap + 1)
      expect(dirSynced, `the data directory is not fsynced after the rename:\n${trace}`).to.be.greaterThan(swap)
      expect(libraryContent(data.databasePath).digest).to.equal(source.digest)
    })

    it('backup: fsync of the archive under its temporary name, then link to its final name, then fsync of the backup directory', async () => {
      const data = target()
      const observed = observeCalls()
      const result = await runCli(['library:backup', '--json'], {env: {...data.env, ...observed.env}})
      expect(result.code, result.stderr).to.equal(0)
      const final = String(parseJson(result).path)
      const calls = observed.calls()
      const trace = describeCalls(calls)
      const publish = indexOfCall(calls, (call) => (call.op === 'link' || call.op === 'rename') && call.to === final)
      expect(publish, `the archive never got its final name by link or rename:\n${trace}`).to.be.greaterThan(-1)
      const staged = calls[publish].path
      expect(isTemp(staged), staged).to.equal(true)
      const fileSynced = calls.slice(0, publish).some((call) => call.op === 'fsync' && call.path === staged)
      expect(fileSynced, `the archive is not fsynced before it is published:\n${trace}`).to.equal(true)
      const dirSynced = indexOfCall(calls, (call) => call.op === 'fsync' && call.path === data.backupDir, publish + 1)
      expect(dirSynced, `the backup directory is not fsynced after the archive appears:\n${trace}`).to.be.greaterThan(
        publish,
      )
    })
  })

  describe('a stale WAL beside the library', () => {
    it('a damaged old library with a replayable -wal, an -shm and a -journal: the new library is exactly the archive, no sidecar left', async () => {
      const data = target()
      // The old library's own WAL (real commits, valid checksums, same page size): SQLite would
      // replay it over whatever library.db is next to it. No checkpoint can run, because the
      // database it belongs to is damaged (the header is gone): a restore is how a user repairs it.
      expect(fs.statSync(`${data.databasePath}-wal`).size).to.be.greaterThan(0)
      const bytes = fs.readFileSync(data.databasePath)
      bytes.fill(0x5a, 0, 100)
      fs.writeFileSync(data.databasePath, bytes)
      fs.writeFileSync(`${data.databasePath}-shm`, Buffer.alloc(32_768, 0x11))
      fs.writeFileSync(`${data.databasePath}-journal`, Buffer.alloc(4096, 0x22))
      const result = await runCli(['library:restore', source.archive, '--yes', '--no-safety-backup'], {env: data.env})
      expect(result.code, result.stderr).to.equal(0)
      for (const suffix of SIDECARS) expect(fs.existsSync(`${data.databasePath}${suffix}`), suffix).to.equal(false)
      expect(libraryContent(data.databasePath)).to.include({digest: source.digest, integrity: 'ok'})
    })

    it('a healthy old library in WAL mode: its sidecars are gone and VPO opens exactly the archive', async () => {
      const data = target()
      const result = await runCli(['library:restore', source.archive, '--yes', '--no-safety-backup'], {env: data.env})
      expect(result.code, result.stderr).to.equal(0)
      for (const suffix of SIDECARS) expect(fs.existsSync(`${data.databasePath}${suffix}`), suffix).to.equal(false)
      expect(libraryContent(data.databasePath)).to.include({digest: source.digest, integrity: 'ok'})
    })
  })

  describe('an archive whose database only quick_check finds damaged', () => {
    let damaged: string
    let work: string

    before(() => {
      work = makeTempDir('vpo-quick-check')
      const database = path.join(work, 'library.db')
      extractArchiveMember(source.archive, 'library.db', database)
      // Break the root page of an index on tracks: the tables, _meta, the schema and every query
      // a restore runs besides quick_check still read fine, so only quick_check can notice.
      const handle = new Database(database, {readonly: true})
      const {rootpage} = handle
        .prepare("SELECT rootpage FROM sqlite_master WHERE name = 'idx_tracks_language'")
        .get() as {rootpage: number}
      const pageSize = handle.pragma('page_size', {simple: true}) as number
      handle.close()
      const bytes = fs.readFileSync(database)
      bytes.fill(0xa5, (rootpage - 1) * pageSize, rootpage * pageSize)
      fs.writeFileSync(database, bytes)
      const premise = python(
        `
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print(db.execute("SELECT value FROM _meta WHERE key = 'schema_version'").fetchone()[0])
print(db.execute('SELECT COUNT(*), SUM(size_bytes) FROM files').fetchone())
print(db.execute('PRAGMA quick_check').fetchone()[0])
`,
        [database],
      )
      expect(premise.status, premise.stderr).to.equal(0)
      expect(premise.stdout.trim().split('\n').pop()).to.not.equal('ok')
      damaged = path.join(work, 'damaged.tar.gz')
      const metadata = {
        ...archiveMetadata(source.archive),
        database_size_bytes: bytes.length,
        database_sha256: sha256File(database),
      }
      writeArchiveWithPython(damaged, [
        {name: 'backup_metadata.json', text: JSON.stringify(metadata, null, 2)},
        {name: 'library.db', source: database},
      ])
    })

    for (const dryRun of [false, true]) {
      it(`is rejected with exit 3 naming quick_check, the library untouched${dryRun ? ' (--dry-run)' : ''}`, async () => {
        const data = target()
        const before = treeState(data.dataDir)
        const args = ['library:restore', damaged, '--yes', '--json', ...(dryRun ? ['--dry-run'] : [])]
        const message = expectJsonError(await runCli(args, {env: data.env}), 'INVALID_ARCHIVE', 3)
        expect(message).to.include('quick_check')
        expect(treeState(data.dataDir)).to.deep.equal(before)
      })
    }
  })

  for (const umask of ['000', '077']) {
    describe(`file modes under umask ${umask}`, () => {
      /**
       * Every file the CLI created through node:fs had mode 0600 the moment it existed, and so had
       * every temporary file (SQLite's snapshot included) seen beside the library or the backups.
       */
      function expectCreatedPrivate(calls: ObservedCall[]): void {
        const created = calls.filter((call) => call.mode !== undefined && !call.path.endsWith('calls.jsonl'))
        expect(created.length, describeCalls(calls)).to.be.greaterThan(0)
        for (const call of created) expect(call.mode!.toString(8), call.path).to.equal('600')
      }

      it('backup: backups/ 0700, the archive and every temporary file 0600', async () => {
        const data = target()
        const observed = observeCalls([data.dataDir, data.backupDir])
        const result = await runCliWithUmask(umask, ['library:backup', '--json'], {...data.env, ...observed.env})
        expect(result.code, result.stderr).to.equal(0)
        expect(modeOf(data.backupDir).toString(8)).to.equal('700')
        expect(modeOf(String(parseJson(result).path)).toString(8)).to.equal('600')
        expectCreatedPrivate(observed.calls())
      })

      it('restore: the safety backup 0600 in a new 0700 backups/, library.db keeps its 0640, temporary files 0600', async () => {
        const data = target()
        fs.chmodSync(data.databasePath, 0o640)
        const observed = observeCalls([data.dataDir, data.backupDir])
        const result = await runCliWithUmask(umask, ['library:restore', source.archive, '--yes', '--json'], {
          ...data.env,
          ...observed.env,
        })
        expect(result.code, result.stderr).to.equal(0)
        expect(modeOf(data.backupDir).toString(8)).to.equal('700')
        expect(modeOf(String(parseJson(result).safety_backup_path)).toString(8)).to.equal('600')
        expect(modeOf(data.databasePath).toString(8)).to.equal('640')
        expectCreatedPrivate(observed.calls())
      })

      it('restore onto an empty machine: the data directory 0700, library.db 0600', async () => {
        const dataDir = path.join(makeTempDir('vpo-empty'), 'vpo')
        const observed = observeCalls([dataDir])
        const result = await runCliWithUmask(umask, ['library:restore', source.archive, '--yes'], {
          VPO_DATA_DIR: dataDir,
          ...observed.env,
        })
        expect(result.code, result.stderr).to.equal(0)
        expect(modeOf(dataDir).toString(8)).to.equal('700')
        expect(modeOf(path.join(dataDir, 'library.db')).toString(8)).to.equal('600')
        expectCreatedPrivate(observed.calls())
      })
    })
  }
})
