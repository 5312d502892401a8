/**
 * A writer killed with -9 in the middle of a transaction (a restore's swap, a scanner, the daemon
 * on a power cut) leaves a hot `library.db-journal`: library.db holds half of the transaction and
 * only the journal can put it back. The next backup and restore must let SQLite roll it back and
 * work on the last committed state, never fail on it and never remove the journal by hand.
 */
import {expect} from 'chai'
import {spawn, spawnSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import {parseJson, runCli} from '../helpers/cli.js'
import {expectHumanError, expectNoStackTrace} from '../helpers/expectations.js'
import {isRoot, mountTmpfs, useMounts} from '../helpers/filesystems.js'
import {listArchives, listTemps, lockDirectory} from '../helpers/leftovers.js'
import {archiveOf, type DataDir, libraryContent, makeDataDir, sha256File, treeState} from '../helpers/libraries.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

const JOURNAL_MAGIC = 'd9d505f920a163d7'

/**
 * Leaves rollback-journal mode's crash state: a transaction that rewrites every file row and
 * drops every track, with a cache of 5 pages so SQLite spills changed pages into library.db
 * before the commit that never comes.
 */
const HALF_WRITER = `
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute('PRAGMA journal_mode=DELETE')
conn.execute('PRAGMA cache_size=5')
conn.execute('BEGIN IMMEDIATE')
conn.execute("UPDATE files SET path = path || '.moved', filename = filename || ' (uncommitted)'")
conn.execute('DELETE FROM tracks')
sys.stdout.write('dirty\\n'); sys.stdout.flush()
time.sleep(600)
`

async function killMidTransaction(databasePath: string): Promise<void> {
  const child = spawn('python3', ['-c', HALF_WRITER, databasePath], {stdio: ['ignore', 'pipe', 'pipe']})
  const exited = new Promise((resolve) => {
    child.on('exit', resolve)
  })
  await new Promise<void>((resolve, reject) => {
    let err = ''
    child.stderr.on('data', (chunk) => {
      err += chunk
    })
    child.stdout.on('data', (chunk) => {
      if (String(chunk).includes('dirty')) resolve()
    })
    child.on('exit', (code) => reject(new Error(`the writer exited (${code}) before its transaction: ${err}`)))
  })
  child.kill('SIGKILL')
  await exited
  const journal = `${databasePath}-journal`
  expect(fs.readFileSync(journal).subarray(0, 8).toString('hex'), 'a hot journal is left').to.equal(JOURNAL_MAGIC)
}

/** The tracks rows SQLite sees in `databasePath` (the half-written transaction deleted them all). */
function trackCount(databasePath: string): number {
  const out = spawnSync(
    'python3',
    [
      '-c',
      "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT COUNT(*) FROM tracks').fetchone()[0])",
      databasePath,
    ],
    {encoding: 'utf8'},
  )
  return Number(out.stdout.trim())
}

function extract(archive: string): string {
  const dir = makeTempDir('vpo-extract')
  const out = spawnSync('tar', ['-xzf', archive, '-C', dir], {encoding: 'utf8'})
  expect(out.status, out.stderr).to.equal(0)
  return path.join(dir, 'library.db')
}

function expectNothingBeside(library: DataDir): void {
  for (const suffix of ['-journal', '-wal', '-shm']) {
    expect(fs.existsSync(`${library.databasePath}${suffix}`), `${suffix} left`).to.equal(false)
  }

  expect(listTemps(library.dataDir)).to.deep.equal([])
  expect(fs.existsSync(lockDirectory(library.databasePath)), 'lock left').to.equal(false)
}

describe('a hot rollback journal left by a writer killed mid-transaction', function () {
  this.timeout(120_000)
  const mounts = useMounts()

  after(() => cleanupTempDirs())

  it('restore --yes rolls it back under the lock, keeps that state as its safety backup, and restores the backup', async () => {
    const library = makeDataDir({files: 1500, walFiles: 25})
    const committed = libraryContent(library.databasePath)
    const backup = await archiveOf(makeDataDir({files: 300, walFiles: 5}))
    await killMidTransaction(library.databasePath)

    const run = await runCli(['library:restore', backup.path, '--yes', '--json'], {env: library.env})
    expectNoStackTrace(run)
    expect(run.code, run.stderr + run.stdout).to.equal(0)
    expect(sha256File(library.databasePath)).to.equal(backup.sha256)
    expectNothingBeside(library)
    const safety = listArchives(library.backupDir)
    expect(safety).to.have.lengthOf(1)
    const saved = libraryContent(extract(path.join(library.backupDir, safety[0])))
    expect(saved).to.deep.equal(committed)
  })

  it('backup rolls it back and archives the last committed state; the library keeps its owner and mode', async () => {
    const library = makeDataDir({files: 1500, walFiles: 25})
    const committed = libraryContent(library.databasePath)
    const tracks = trackCount(library.databasePath)
    // A sudo run over a daemon's library: the rollback writes library.db in place, as its owner's.
    if (isRoot()) {
      fs.chownSync(library.dataDir, 4321, 4321)
      fs.chownSync(library.databasePath, 4321, 4321)
    }

    fs.chmodSync(library.databasePath, 0o640)
    await killMidTransaction(library.databasePath)
    const before = fs.statSync(library.databasePath)

    const run = await runCli(['library:backup', '--json'], {env: library.env})
    expectNoStackTrace(run)
    expect(run.code, run.stderr).to.equal(0)
    const result = parseJson(run)
    expect(result.file_count).to.equal(committed.rows)
    const archived = extract(String(result.path))
    expect(libraryContent(archived)).to.deep.equal(committed)
    expect(trackCount(archived)).to.equal(tracks)
    expect(libraryContent(library.databasePath)).to.deep.equal(committed)
    const after = fs.statSync(library.databasePath)
    expect([after.uid, after.gid, after.mode]).to.deep.equal([before.uid, before.gid, before.mode])
    expectNothingBeside(library)
  })

  it('backup --dry-run shows the committed state the backup will archive, and leaves the library and its journal as they were', async () => {
    const library = makeDataDir({files: 1500, walFiles: 25})
    const committed = libraryContent(library.databasePath)
    await killMidTransaction(library.databasePath)
    const before = treeState(library.dataDir)

    const dry = await runCli(['library:backup', '--dry-run', '--json'], {env: library.env})
    expectNoStackTrace(dry)
    expect(dry.code, dry.stderr).to.equal(0)
    expect(parseJson(dry)).to.include({unfinished_transaction: true, file_count: committed.rows})
    expect(treeState(library.dataDir), 'nothing changed, nothing left behind').to.deep.equal(before)

    const human = await runCli(['library:backup', '--dry-run'], {env: library.env})
    expect(human.stdout).to.contain(`${library.databasePath}-journal holds an unfinished transaction`)
    const real = await runCli(['library:backup', '--json'], {env: library.env})
    expect(real.code, real.stderr).to.equal(0)
    expect(parseJson(real).file_count).to.equal(committed.rows)
  })

  it('backup --dry-run on a disk without room to copy the library for the preview: exit 5, the library and journal as they were', async function () {
    if (!isRoot()) {
      console.log('      (skipped: mounting a small tmpfs needs root)')
      this.skip()
    }

    const library = makeDataDir({files: 1500, walFiles: 25})
    await killMidTransaction(library.databasePath)
    const sizes = ['', '-journal'].map((suffix) => fs.statSync(`${library.databasePath}${suffix}`).size)
    const mount = path.join(makeTempDir('vpo-small'), 'vpo')
    expect(mountTmpfs(mount, `${Math.ceil((sizes[0] + sizes[1]) / 1024) + 256}k`)).to.equal(true)
    mounts.push(mount)
    for (const suffix of ['', '-journal'])
      fs.copyFileSync(`${library.databasePath}${suffix}`, path.join(mount, `library.db${suffix}`))
    const before = treeState(mount)

    const dry = await runCli(['library:backup', '--dry-run', '--json'], {env: {VPO_DATA_DIR: mount}})
    expectNoStackTrace(dry)
    expect(dry.code, dry.stdout).to.equal(5)
    expect((parseJson(dry).error as {message: string}).message).to.match(
      /^The disk filled up while copying .* to preview the rollback/,
    )
    expect(treeState(mount), 'the library, its journal, and no copy left').to.deep.equal(before)
  })

  it('backup --db on a read-only filesystem cannot roll it back: says so (exit 1) and leaves the journal and library as they were', async function () {
    if (!isRoot()) {
      console.log('      (skipped: mounting a read-only tmpfs needs root)')
      this.skip()
    }

    const mount = path.join(makeTempDir('vpo-ro'), 'disk')
    expect(mountTmpfs(mount, '16m')).to.equal(true)
    mounts.push(mount)
    const library = makeDataDir({files: 1500, walFiles: 25}, mount)
    await killMidTransaction(library.databasePath)
    const remount = spawnSync('mount', ['-o', 'remount,ro', mount], {encoding: 'utf8'})
    expect(remount.status, remount.stderr).to.equal(0)
    const journal = sha256File(`${library.databasePath}-journal`)
    const database = sha256File(library.databasePath)

    const output = makeTempDir('vpo-out')
    const run = await runCli(['library:backup', '--db', library.databasePath, '--output', `${output}/`])
    const message = expectHumanError(run, 1)
    expect(message).to.include('-journal').and.include('read-only filesystem')
    const dry = await runCli(['library:backup', '--db', library.databasePath, '--output', `${output}/`, '--dry-run'])
    expect(expectHumanError(dry, 1), 'the dry run says what the real run says').to.equal(message)
    expect(sha256File(`${library.databasePath}-journal`)).to.equal(journal)
    expect(sha256File(library.databasePath)).to.equal(database)
    expect(fs.readdirSync(output)).to.deep.equal([])
  })
})
