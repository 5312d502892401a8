/**
 * library:restore, end to end: real processes (bin/run.js), real libraries in WAL mode, real
 * archives made by the CLI itself or by Python's tarfile in VPO's layout, a real pseudo-terminal
 * for the prompt and a real second process holding the lock.
 */
import Database from 'better-sqlite3'
import {expect} from 'chai'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {BUILT_IN_SCHEMA_VERSION} from '../../src/cli/library-command.js'
import {parseJson, ROOT, runCli, runCliOnPty, stackTraceLines} from '../helpers/cli.js'
import {expectJsonError, expectNoStackTrace} from '../helpers/expectations.js'
import {gnuTarList} from '../helpers/gnu-tar.js'
import {leftoverTempFiles} from '../helpers/leftovers.js'
import {type DataDir, makeDataDir, sha256File, treeState} from '../helpers/libraries.js'
import {holdLibraryLock} from '../helpers/processes.js'
import {archiveMetadata, extractArchiveMember, writePythonArchive} from '../helpers/python-archives.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

const PACKAGE_VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {version: string})
  .version
/** The newest library schema the plugin knows: newer archives are refused, older ones migrate. */
const CURRENT_SCHEMA = BUILT_IN_SCHEMA_VERSION
const PRE_RESTORE_NAME = /^vpo-library-\d{4}-\d{2}-\d{2}T\d{6}Z-pre-restore(-\d+)?\.tar\.gz$/
const SIDECARS = ['-wal', '-shm', '-journal']

/** Every `files` row (id → path) of a library, WAL commits included, read from a private copy. */
function filesById(databasePath: string): Map<number, string> {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'vpo-rows-'))
  try {
    const copy = path.join(scratch, 'copy.db')
    fs.copyFileSync(databasePath, copy)
    if (fs.existsSync(`${databasePath}-wal`)) fs.copyFileSync(`${databasePath}-wal`, `${copy}-wal`)
    const db = new Database(copy, {readonly: true})
    try {
      const rows = db.prepare('SELECT id, path FROM files ORDER BY id').all() as Array<{id: number; path: string}>
      return new Map(rows.map((row) => [row.id, row.path]))
    } finally {
      db.close()
    }
  } finally {
    fs.rmSync(scratch, {recursive: true, force: true})
  }
}

/** The rows of `all` with an id above `afterId`: the commits a fixture left only in its WAL. */
function rowsAfter(all: Map<number, string>, afterId: number): Array<[number, string]> {
  return [...all].filter(([id]) => id > afterId)
}

/** Asserts every (id, path) of `expected` is in the library at `databasePath`. */
function expectRows(databasePath: string, expected: Array<[number, string]>, label: string): void {
  const rows = filesById(databasePath)
  const missing = expected.filter(([id, file]) => rows.get(id) !== file)
  expect(missing, `${label}: rows missing from ${databasePath}`).to.deep.equal([])
}

/** Opens the library read-write in place, as VPO will (replaying any WAL lying there), and compares its rows. */
function expectOpensAs(databasePath: string, expected: Map<number, string>): void {
  const db = new Database(databasePath)
  try {
    const rows = db.prepare('SELECT id, path FROM files ORDER BY id').all() as Array<{id: number; path: string}>
    expect(new Map(rows.map((row) => [row.id, row.path]))).to.deep.equal(expected)
    expect(db.pragma('integrity_check', {simple: true})).to.equal('ok')
  } finally {
    db.close()
  }
}

async function makeBackup(data: DataDir, output: string): Promise<Record<string, unknown>> {
  const result = await runCli(['library:backup', '--output', output, '--json'], {env: data.env})
  expect(result.code, result.stderr).to.equal(0)
  return parseJson(result)
}

describe('library:restore', function () {
  this.timeout(60_000)
  /** The library that was backed up: 1,500 files in library.db and 25 more only in its WAL. */
  let source: DataDir
  let archive: string
  let archiveDb: string
  let archiveSha: string
  let archiveMeta: Record<string, unknown>
  let sourceRows: Map<number, string>
  let sourceWalRows: Array<[number, string]>

  /** A library about to be replaced: 1,400 files plus 40 only in its WAL, other paths. */
  const target = (parent?: string) => makeDataDir({files: 1400, walFiles: 40, seed: 7}, parent)

  before(async function () {
    this.timeout(120_000)
    source = makeDataDir()
    expect(fs.statSync(`${source.databasePath}-wal`).size, 'fixture: the source has commits in its WAL').to.be.above(0)
    sourceRows = filesById(source.databasePath)
    sourceWalRows = rowsAfter(sourceRows, 1500)
    expect(sourceWalRows).to.have.lengthOf(25)

    // A name with spaces and non-ASCII characters, outside any data directory.
    archive = path.join(makeTempDir('vpo-archives'), 'my backups', 'bibliothèque 1.tar.gz')
    fs.mkdirSync(path.dirname(archive))
    await makeBackup(source, archive)
    archiveDb = path.join(makeTempDir('vpo-archive-db'), 'library.db')
    extractArchiveMember(archive, 'library.db', archiveDb)
    archiveSha = sha256File(archiveDb)
    archiveMeta = archiveMetadata(archive)
    expect(archiveMeta.file_count).to.equal(1525)
  })

  after(() => cleanupTempDirs())

  describe('restoring', () => {
    it('restores the library.db inside the archive byte for byte, WAL-only commits included, and reports it in --json', async () => {
      const data = target()
      fs.chmodSync(data.databasePath, 0o640)
      const result = await runCli(['library:restore', archive, '--yes', '--json'], {env: data.env})
      expect(result.code, result.stderr).to.equal(0)
      expect(sha256File(data.databasePath), 'restored library.db equals the one in the archive').to.equal(archiveSha)
      for (const suffix of SIDECARS) expect(fs.existsSync(data.databasePath + suffix), suffix).to.equal(false)
      expect(fs.statSync(data.databasePath).mode & 0o777, 'the mode of the library it replaced').to.equal(0o640)

      const rows = filesById(data.databasePath)
      expect(rows.size).to.equal(1525)
      expectRows(data.databasePath, sourceWalRows, 'commits that were only in the WAL')
      expect(rows).to.deep.equal(sourceRows)

      const json = parseJson(result)
      for (const key of [
        'success',
        'source_path',
        'database_path',
        'created_at',
        'file_count',
        'schema_version',
        'current_schema_version',
        'schema_mismatch',
        'safety_backup_path',
        'duration_seconds',
      ]) {
        expect(json, `--json key ${key}`).to.have.property(key)
      }

      expect(json.success).to.equal(true)
      expect(json.source_path).to.equal(archive)
      expect(json.database_path).to.equal(data.databasePath)
      expect(json.created_at).to.equal(archiveMeta.created_at)
      expect(json.created_at).to.match(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/)
      expect(json.file_count).to.equal(1525)
      expect(json.schema_version).to.equal(CURRENT_SCHEMA)
      expect(json.current_schema_version).to.equal(CURRENT_SCHEMA)
      expect(json.schema_mismatch).to.equal(false)
      expect(json.safety_backup_path).to.be.a('string')
      expect(fs.existsSync(json.safety_backup_path as string)).to.equal(true)
      expect(json.duration_seconds).to.be.a('number').and.at.least(0).and.below(60)
      expect(leftoverTempFiles(data.dataDir)).to.deep.equal([])
    })

    it("restores an archive written by VPO's Python tool (library.db first, no checksum, hyphenated name)", async () => {
      const python = makeDataDir({files: 1500, walFiles: 0, seed: 11})
      const walSize = fs.statSync(`${python.databasePath}-wal`, {throwIfNoEntry: false})?.size ?? 0
      expect(walSize, 'fixture: a self-contained library.db').to.equal(0)
      const pythonArchive = path.join(makeTempDir('vpo-python'), 'vpo-library-2026-02-05T14-30-22Z.tar.gz')
      writePythonArchive(python.databasePath, pythonArchive, {
        vpo_version: '0.9.2',
        schema_version: CURRENT_SCHEMA,
        created_at: '2026-02-05T14:30:22Z',
        database_size_bytes: fs.statSync(python.databasePath).size,
        file_count: python.summary.fileCount,
        total_library_size_bytes: python.summary.totalLibrarySizeBytes,
        compression: 'gzip',
      })
      expect(gnuTarList(pythonArchive).map((member) => member.name)).to.deep.equal([
        'library.db',
        'backup_metadata.json',
      ])

      const data = target()
      const before = treeState(data.dataDir)
      const dry = await runCli(['library:restore', pythonArchive, '--dry-run'], {env: data.env})
      expect(dry.code, dry.stderr).to.equal(0)
      expect(dry.stdout).to.match(/VPO version: +0\.9\.2/)
      expect(dry.stdout).to.match(/Checksum: +absent/)
      expect(dry.stdout).to.match(/Files: +1,500\b/)
      expect(treeState(data.dataDir)).to.deep.equal(before)

      const result = await runCli(['library:restore', pythonArchive, '--yes', '--json'], {env: data.env})
      expect(result.code, result.stderr).to.equal(0)
      expect(parseJson(result)).to.include({success: true, created_at: '2026-02-05T14:30:22Z', file_count: 1500})
      expect(sha256File(data.databasePath)).to.equal(sha256File(python.databasePath))
      expect(filesById(data.databasePath)).to.deep.equal(filesById(python.databasePath))
    })

    it('restores onto a machine with no data directory at all, without asking, creating the directory', async () => {
      const parent = makeTempDir('vpo-fresh-machine')
      const dataDir = path.join(parent, 'home dir', '.vpo')
      const result = await runCli(['library:restore', archive], {env: {VPO_DATA_DIR: dataDir}})
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stderr).to.not.match(/--yes/)
      expect(fs.statSync(dataDir).isDirectory()).to.equal(true)
      const databasePath = path.join(dataDir, 'library.db')
      expect(sha256File(databasePath)).to.equal(archiveSha)
      expect(filesById(databasePath).size).to.equal(1525)
      expect(result.stdout).to.include(`Library restored to: ${databasePath}`)
      expect(result.stdout).to.match(/Safety backup: none/)
      expect(leftoverTempFiles(parent)).to.deep.equal([])
    })

    it('keeps the old library, WAL-only commits included, in a pre-restore safety backup and reports it', async () => {
      const data = target()
      const oldRows = filesById(data.databasePath)
      const oldWalRows = rowsAfter(oldRows, 1400)
      expect(oldWalRows, 'fixture: the old library has commits only in its WAL').to.have.lengthOf(40)

      const result = await runCli(['library:restore', archive, '--yes'], {env: data.env})
      expect(result.code, result.stderr).to.equal(0)
      expect(sha256File(data.databasePath)).to.equal(archiveSha)

      const saved = fs.readdirSync(data.backupDir)
      expect(saved).to.have.lengthOf(1)
      expect(saved[0]).to.match(PRE_RESTORE_NAME)
      const safety = path.join(data.backupDir, saved[0])
      expect(fs.statSync(safety).mode & 0o777).to.equal(0o600)
      expect(fs.statSync(data.backupDir).mode & 0o777).to.equal(0o700)

      // The human report: source, created, files, schema; destination, safety backup, duration.
      expect(result.stdout).to.include(`Restored from: ${archive}`)
      expect(result.stdout).to.include(`Created: ${archiveMeta.created_at as string}`)
      expect(result.stdout).to.match(/Files: +1,525\b/)
      expect(result.stdout).to.match(new RegExp(`Schema: +${CURRENT_SCHEMA} \\(current: ${CURRENT_SCHEMA}\\)`))
      expect(result.stdout).to.include(`Library restored to: ${data.databasePath}`)
      expect(result.stdout).to.include(`Safety backup: ${safety}`)
      expect(result.stdout).to.match(/Duration: +\d+(\.\d+)? s/)

      // Open it: it is the old library, whole, with what was only in its WAL.
      const savedDb = path.join(makeTempDir('vpo-safety'), 'library.db')
      extractArchiveMember(safety, 'library.db', savedDb)
      const savedRows = filesById(savedDb)
      expect(savedRows.size).to.equal(data.summary.fileCount)
      expect(savedRows).to.deep.equal(oldRows)
      expectRows(savedDb, oldWalRows, 'old WAL-only commits in the safety backup')
      expect(archiveMetadata(safety)).to.include({file_count: data.summary.fileCount, schema_version: CURRENT_SCHEMA})

      // And it restores: the user can undo the restore with it.
      const undo = await runCli(['library:restore', safety, '--yes', '--no-safety-backup'], {env: data.env})
      expect(undo.code, undo.stderr).to.equal(0)
      expect(filesById(data.databasePath)).to.deep.equal(oldRows)
    })

    it('--no-safety-backup makes no safety backup', async () => {
      const data = target()
      const result = await runCli(['library:restore', archive, '--yes', '--no-safety-backup', '--json'], {
        env: data.env,
      })
      expect(result.code, result.stderr).to.equal(0)
      expect(parseJson(result).safety_backup_path).to.equal(null)
      const saved = fs.existsSync(data.backupDir) ? fs.readdirSync(data.backupDir) : []
      expect(saved).to.deep.equal([])
      expect(sha256File(data.databasePath)).to.equal(archiveSha)
    })

    it('restores through a library.db that is a symlink: the file it points to is replaced, the link stays', async () => {
      const data = target()
      const realDir = makeTempDir('vpo-real-library')
      const real = path.join(realDir, 'catalogue.db')
      fs.renameSync(data.databasePath, real)
      fs.renameSync(`${data.databasePath}-wal`, `${real}-wal`)
      fs.symlinkSync(real, data.databasePath)
      const result = await runCli(['library:restore', archive, '--yes', '--no-safety-backup', '--json'], {
        env: data.env,
      })
      expect(result.code, result.stderr).to.equal(0)
      expect(parseJson(result).database_path).to.equal(fs.realpathSync(real))
      expect(fs.lstatSync(data.databasePath).isSymbolicLink(), 'the link is still a link').to.equal(true)
      expect(sha256File(real)).to.equal(archiveSha)
      expect(fs.existsSync(`${real}-wal`), 'the old WAL beside the real file is gone').to.equal(false)
      expect(leftoverTempFiles(realDir)).to.deep.equal([])
    })

    it('never replays the old WAL over the restored file: no -wal or -shm from before remains', async () => {
      const data = target()
      // The old library as a running daemon leaves it: commits only in library.db-wal, and a -shm.
      const reader = new Database(data.databasePath, {readonly: true})
      expect((reader.prepare('SELECT COUNT(*) AS n FROM files').get() as {n: number}).n).to.equal(1440)
      reader.close()
      const stale = ['-wal', '-shm']
      for (const suffix of stale)
        expect(fs.existsSync(data.databasePath + suffix), `fixture has ${suffix}`).to.equal(true)
      expect(fs.statSync(`${data.databasePath}-wal`).size).to.be.above(0)
      const oldSidecars = Object.fromEntries(stale.map((suffix) => [suffix, sha256File(data.databasePath + suffix)]))

      const result = await runCli(['library:restore', archive, '--yes'], {env: data.env})
      expect(result.code, result.stderr).to.equal(0)
      for (const suffix of stale) {
        const file = data.databasePath + suffix
        const still = fs.existsSync(file) && sha256File(file) === oldSidecars[suffix]
        expect(still, `the old ${suffix} is still beside the restored database`).to.equal(false)
      }

      expect(sha256File(data.databasePath)).to.equal(archiveSha)
      expectOpensAs(data.databasePath, sourceRows)
    })

    it('removes a leftover -journal of the old database, so it can never be rolled back into the restored one', async () => {
      const data = target()
      fs.writeFileSync(`${data.databasePath}-journal`, Buffer.alloc(4096, 0x5a))
      const result = await runCli(['library:restore', archive, '--yes', '--no-safety-backup'], {env: data.env})
      expect(result.code, result.stderr).to.equal(0)
      for (const suffix of SIDECARS) expect(fs.existsSync(data.databasePath + suffix), suffix).to.equal(false)
      expect(sha256File(data.databasePath)).to.equal(archiveSha)
      expectOpensAs(data.databasePath, sourceRows)
    })
  })

  describe('confirmation', () => {
    it('on a terminal, asks [y/N]; answering n changes nothing and exits 1', async () => {
      const data = target()
      const before = treeState(data.dataDir)
      const result = runCliOnPty(['library:restore', archive], {env: data.env, answer: 'n'})
      expect(result.timedOut, result.output).to.equal(false)
      expect(result.prompted, result.output).to.equal(true)
      expect(result.output).to.include(data.databasePath)
      expect(result.code, result.output).to.equal(1)
      expect(result.output).to.match(/cancel/i)
      expect(stackTraceLines(result.output)).to.deep.equal([])
      expect(treeState(data.dataDir)).to.deep.equal(before)
      expect(leftoverTempFiles(data.dataDir)).to.deep.equal([])
    })

    it('on a terminal, answering y restores', async () => {
      const data = target()
      const result = runCliOnPty(['library:restore', archive], {env: data.env, answer: 'y'})
      expect(result.timedOut, result.output).to.equal(false)
      expect(result.prompted, result.output).to.equal(true)
      expect(result.code, result.output).to.equal(0)
      expect(result.output).to.include('Library restored to:')
      expect(sha256File(data.databasePath)).to.equal(archiveSha)
      expect(leftoverTempFiles(data.dataDir)).to.deep.equal([])
    })

    it('without a terminal and without --yes, refuses (exit 1), says to pass --yes, changes nothing', async () => {
      const data = target()
      const before = treeState(data.dataDir)
      const result = await runCli(['library:restore', archive], {env: data.env, input: 'y\n'})
      expect(result.code, result.stderr).to.equal(1)
      expect(result.stderr).to.match(/--yes/)
      expect(result.stdout).to.equal('')
      expectNoStackTrace(result)
      expect(treeState(data.dataDir)).to.deep.equal(before)

      const json = await runCli(['library:restore', archive, '--json'], {env: data.env})
      expect(expectJsonError(json, 'CONFIRMATION_REQUIRED', 1)).to.match(/--yes/)
      expect(treeState(data.dataDir)).to.deep.equal(before)
    })
  })

  it('exits 4 and changes nothing while another process holds the library lock', async () => {
    const data = target()
    const lock = await holdLibraryLock(data.databasePath)
    try {
      const before = treeState(data.dataDir)
      expect(before, 'the holder has the lock directory').to.have.property('library.db.lock/')
      const result = await runCli(['library:restore', archive, '--yes'], {env: data.env})
      expect(result.code, result.stderr).to.equal(4)
      expect(result.stderr).to.match(/locked/i)
      expectNoStackTrace(result)
      expect(treeState(data.dataDir)).to.deep.equal(before)

      const json = await runCli(['library:restore', archive, '--yes', '--json'], {env: data.env})
      expectJsonError(json, 'DATABASE_LOCKED', 4)
      const dry = await runCli(['library:restore', archive, '--dry-run'], {env: data.env})
      expect(dry.code, 'a dry run reports the lock a real run would hit').to.equal(4)
      expect(treeState(data.dataDir)).to.deep.equal(before)
    } finally {
      await lock.release()
    }

    // Once the holder is gone, the same command works.
    const after = await runCli(['library:restore', archive, '--yes'], {env: data.env})
    expect(after.code, after.stderr).to.equal(0)
  })

  describe('schema versions', () => {
    it('refuses a backup whose schema is newer than supported (exit 6), changing nothing', async () => {
      const newer = makeDataDir({schemaVersion: 28})
      const newerArchive = path.join(makeTempDir('vpo-schema'), 'schema-28.tar.gz')
      expect((await makeBackup(newer, newerArchive)).schema_version).to.equal(28)

      const data = target()
      const before = treeState(data.dataDir)
      const result = await runCli(['library:restore', newerArchive, '--yes'], {env: data.env})
      expect(result.code, result.stderr).to.equal(6)
      expect(result.stderr).to.match(/28/)
      expect(result.stderr).to.match(/upgrade/i)
      expectNoStackTrace(result)
      expect(treeState(data.dataDir)).to.deep.equal(before)

      expectJsonError(
        await runCli(['library:restore', newerArchive, '--yes', '--json'], {env: data.env}),
        'SCHEMA_TOO_NEW',
        6,
      )
      const dry = await runCli(['library:restore', newerArchive, '--dry-run'], {env: data.env})
      expect(dry.code).to.equal(6)
      expect(treeState(data.dataDir)).to.deep.equal(before)
    })

    it('restores an older schema with a warning that VPO will migrate it; --json says schema_mismatch', async () => {
      const older = makeDataDir({schemaVersion: 26})
      const olderArchive = path.join(makeTempDir('vpo-schema'), 'schema-26.tar.gz')
      await makeBackup(older, olderArchive)

      const data = target()
      const result = await runCli(['library:restore', olderArchive, '--yes'], {env: data.env})
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stderr).to.match(/schema version 26/)
      expect(result.stderr).to.match(/migrate/i)
      expect(result.stdout).to.match(/Schema: +26 \(current: 27\)/)
      expect(filesById(data.databasePath)).to.deep.equal(filesById(older.databasePath))

      const other = target()
      const json = await runCli(['library:restore', olderArchive, '--yes', '--json'], {env: other.env})
      expect(json.code, json.stderr).to.equal(0)
      expect(parseJson(json)).to.include({
        success: true,
        schema_version: 26,
        current_schema_version: 27,
        schema_mismatch: true,
      })
    })
  })

  describe('--dry-run', () => {
    it('prints the metadata and "No changes made (dry run).", and leaves the disk exactly as it was', async () => {
      const data = target()
      const before = treeState(data.dataDir)
      const archiveDirBefore = treeState(path.dirname(archive))
      const result = await runCli(['library:restore', archive, '--dry-run'], {env: data.env})
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stdout).to.match(new RegExp(`VPO version: +${PACKAGE_VERSION.replaceAll('.', String.raw`\.`)}\\b`))
      expect(result.stdout).to.match(new RegExp(`Schema: +${CURRENT_SCHEMA} \\(current: ${CURRENT_SCHEMA}\\)`))
      const mb = ((archiveMeta.database_size_bytes as number) / 1e6).toFixed(1)
      expect(result.stdout).to.match(new RegExp(`Database size: +${mb.replace('.', String.raw`\.`)} MB`))
      expect(result.stdout).to.match(/Files: +1,525\b/)
      expect(result.stdout).to.match(/Checksum: +verified/)
      expect(result.stdout).to.include(archiveMeta.created_at as string)
      expect(result.stdout.trim().split('\n').pop()).to.equal('No changes made (dry run).')
      expect(treeState(data.dataDir), 'data directory').to.deep.equal(before)
      expect(treeState(path.dirname(archive)), 'archive directory').to.deep.equal(archiveDirBefore)
    })

    it('needs no --yes, and creates nothing on a machine with no data directory', async () => {
      const parent = makeTempDir('vpo-dry-fresh')
      const dataDir = path.join(parent, 'vpo')
      const result = await runCli(['library:restore', archive, '--dry-run', '--json'], {env: {VPO_DATA_DIR: dataDir}})
      expect(result.code, result.stderr).to.equal(0)
      expect(parseJson(result)).to.include({success: true, file_count: 1525, schema_version: CURRENT_SCHEMA})
      expect(fs.existsSync(dataDir)).to.equal(false)
      expect(treeState(parent)).to.deep.equal({})
    })

    it('verifies the checksum of an extracted copy: a mismatch is exit 3, nothing left behind', async () => {
      const bad = path.join(makeTempDir('vpo-dry-bad'), 'vpo-library-2026-02-05T14-30-22Z.tar.gz')
      writePythonArchive(archiveDb, bad, {...archiveMeta, database_sha256: 'f'.repeat(64)})
      const data = target()
      const before = treeState(data.dataDir)
      const result = await runCli(['library:restore', bad, '--dry-run'], {env: data.env})
      expect(result.code, result.stderr).to.equal(3)
      expect(result.stderr).to.match(/checksum/)
      expect(result.stdout).to.not.include('No changes made')
      expect(treeState(data.dataDir)).to.deep.equal(before)
    })
  })

  describe('--json errors', () => {
    it('a missing archive: {"success": false, "error": {code, message, exit_code}} and exit 1', async () => {
      const data = target()
      const before = treeState(data.dataDir)
      const missing = path.join(makeTempDir('vpo-missing'), 'nope.tar.gz')
      const message = expectJsonError(
        await runCli(['library:restore', missing, '--yes', '--json'], {env: data.env}),
        'BACKUP_NOT_FOUND',
        1,
      )
      expect(message).to.include(missing)
      expect(treeState(data.dataDir)).to.deep.equal(before)
    })

    it('an invalid archive: INVALID_ARCHIVE / UNSUPPORTED_ARCHIVE with exit 3, and stdout is that one JSON object', async () => {
      const data = target()
      const dir = makeTempDir('vpo-invalid')
      const truncated = path.join(dir, 'truncated.tar.gz')
      const bytes = fs.readFileSync(archive)
      fs.writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)))
      expectJsonError(
        await runCli(['library:restore', truncated, '--yes', '--json'], {env: data.env}),
        'INVALID_ARCHIVE',
        3,
      )

      const text = path.join(dir, 'notes.tar.gz')
      fs.writeFileSync(text, 'not an archive\n')
      const result = await runCli(['library:restore', text, '--yes', '--json'], {env: data.env})
      expectJsonError(result, 'UNSUPPORTED_ARCHIVE', 3)
      expect(result.stderr).to.equal('')
    })
  })
})
