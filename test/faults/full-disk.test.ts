/**
 * A full disk at each stage: tmpfs mounts sized to run out during a backup's snapshot, during its
 * compression, during a restore's extraction and during a restore's safety backup. Each must end
 * with exit 5 (or a clear I/O error), nothing left behind and the library intact.
 *
 * The commands check free space first, so a disk that is simply too small is refused before any
 * work (tested too). To make the disk fill up *during* a stage, as when another program writes to
 * it meanwhile or a network share reports space it does not have, a preloaded hook makes statfs
 * report a terabyte free; the writes then meet the real ENOSPC of the small tmpfs.
 *
 * Needs root (mount -t tmpfs); otherwise skipped with a message.
 */
import {expect} from 'chai'
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import {archivedLibrary, type ArchivedLibrary} from '../helpers/archived-libraries.js'
import {type CliResult, parseJson, runCli} from '../helpers/cli.js'
import {isRoot, mountTmpfs, statfsReportingATerabyte, useMounts} from '../helpers/filesystems.js'
import {listArchives, listTemps, lockDirectory} from '../helpers/leftovers.js'
import {cloneLibrary, type DataDir, libraryContent, makeDataDir, sha256File, treeState} from '../helpers/libraries.js'
import {readArchiveWithPython} from '../helpers/python-archives.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

/**
 * The data directory's files, without SQLite's shared-memory index (`library.db-shm`): SQLite
 * creates it whenever anyone opens a WAL database, the daemon included, and it holds no data.
 */
function dataState(dir: string): Record<string, string> {
  const state = treeState(dir)
  for (const key of Object.keys(state)) if (key.endsWith('-shm')) delete state[key]
  return state
}

describe('faults: full disk', function () {
  this.timeout(180_000)

  const mounts = useMounts()
  let base: DataDir
  let incoming: ArchivedLibrary
  let snapshotBytes: number
  let archiveBytes: number
  let lying: NodeJS.ProcessEnv

  const tmpfs = (size: string, at?: string): string => {
    const dir = at ?? path.join(makeTempDir('vpo-tmpfs'), 'mnt')
    if (!mountTmpfs(dir, size)) throw new Error(`mount -t tmpfs -o size=${size} at ${dir} failed`)
    mounts.push(dir)
    return dir
  }

  const kib = (bytes: number) => `${Math.ceil(bytes / 1024)}k`

  before(async function () {
    if (!isRoot()) {
      console.log('      skipped: these cases mount tmpfs filesystems, which needs root')
      this.skip()
    }

    try {
      tmpfs('1m')
    } catch (error) {
      console.log(`      skipped: ${(error as Error).message}`)
      this.skip()
    }

    base = makeDataDir({files: 1500, walFiles: 25, seed: 51})
    incoming = await archivedLibrary({files: 2500, walFiles: 5, seed: 52})
    const probe = await runCli(['library:backup', '--json', '--output', makeTempDir('vpo-probe')], {env: base.env})
    expect(probe.code, probe.stderr).to.equal(0)
    snapshotBytes = Number(parseJson(probe).database_size_bytes)
    archiveBytes = Number(parseJson(probe).archive_size_bytes)
    lying = statfsReportingATerabyte()
    console.log(`      snapshot ${snapshotBytes} bytes, archive ${archiveBytes} bytes`)
  })

  after(() => cleanupTempDirs())

  /** Exit 5 (or a clear I/O error naming the problem), one sentence, no stack trace. */
  function expectDiskFailure(run: CliResult, stage: RegExp) {
    expect(run.code, run.stdout + run.stderr).to.be.oneOf([5, 1])
    const error = parseJson(run).error as {code: string; message: string}
    console.log(`      exit ${run.code}: ${error.message}`)
    if (run.code === 1) expect(error.message, 'an I/O error must say the disk is full').to.match(/full|space|ENOSPC/i)
    else expect(error.code).to.equal('INSUFFICIENT_SPACE')
    expect(error.message, `the failure is reported at the expected stage`).to.match(stage)
    expect(run.stdout + run.stderr).to.not.match(/^\s+at\s/m)
  }

  function expectBackupLeftNothing(lib: DataDir, destination: string, before: {db: string; wal: string}) {
    expect(listArchives(destination), 'archives').to.deep.equal([])
    expect(listTemps(destination), 'temporary files').to.deep.equal([])
    expect(fs.existsSync(lockDirectory(lib.databasePath)), 'lock').to.equal(false)
    expect(sha256File(lib.databasePath)).to.equal(before.db)
    expect(sha256File(`${lib.databasePath}-wal`)).to.equal(before.wal)
  }

  const liveState = (lib: DataDir) => ({db: sha256File(lib.databasePath), wal: sha256File(`${lib.databasePath}-wal`)})

  it('backup onto a disk too small: refused up front with exit 5, saying how much is needed and free', async () => {
    const lib = cloneLibrary(base)
    const disk = tmpfs('1m')
    const before = liveState(lib)
    const run = await runCli(['library:backup', '--json', '--output', disk], {env: lib.env})
    expectDiskFailure(run, /Not enough free space/)
    expect((parseJson(run).error as {message: string}).message).to.match(/needs? about .* but only .* is free/)
    expectBackupLeftNothing(lib, disk, before)
  })

  it("backup: the library's disk fills up during the snapshot (which is made beside the library)", async () => {
    const lib = libraryOnTmpfs(base, kib(librarySize(base) + snapshotBytes / 2))
    const disk = makeTempDir('vpo-output')
    const before = liveState(lib)
    const state = dataState(lib.dataDir)
    const run = await runCli(['library:backup', '--json', '--output', disk], {env: {...lib.env, ...lying}})
    expectDiskFailure(run, /snapshot/)
    expectBackupLeftNothing(lib, disk, before)
    expect(dataState(lib.dataDir), 'the data directory is as it was').to.deep.equal(state)
  })

  it('backup: the disk fills up during compression', async () => {
    const lib = cloneLibrary(base)
    const disk = tmpfs(kib(archiveBytes * 0.4))
    const before = liveState(lib)
    const run = await runCli(['library:backup', '--json', '--output', disk], {env: {...lib.env, ...lying}})
    expectDiskFailure(run, /writing the backup/)
    expectBackupLeftNothing(lib, disk, before)
  })

  it('backup into the default backups directory on a full disk (a mount point): nothing left there', async () => {
    const lib = cloneLibrary(base)
    fs.mkdirSync(lib.backupDir, {mode: 0o700})
    tmpfs(kib(archiveBytes * 0.4), lib.backupDir)
    const before = liveState(lib)
    const run = await runCli(['library:backup', '--json'], {env: {...lib.env, ...lying}})
    expectDiskFailure(run, /writing the backup/)
    expectBackupLeftNothing(lib, lib.backupDir, before)
  })

  /** A data directory on its own small tmpfs, holding a copy of `from`'s library. */
  function libraryOnTmpfs(from: DataDir, size: string): DataDir {
    const parent = makeTempDir('vpo-tmpfs-data')
    const mountPoint = path.join(parent, 'vpo')
    tmpfs(size, mountPoint)
    fs.copyFileSync(from.databasePath, path.join(mountPoint, 'library.db'))
    fs.copyFileSync(`${from.databasePath}-wal`, path.join(mountPoint, 'library.db-wal'))
    return {
      ...from,
      dataDir: mountPoint,
      databasePath: path.join(mountPoint, 'library.db'),
      backupDir: path.join(mountPoint, 'backups'),
      env: {VPO_DATA_DIR: mountPoint},
    }
  }

  const librarySize = (lib: DataDir) => fs.statSync(lib.databasePath).size + fs.statSync(`${lib.databasePath}-wal`).size

  it('restore onto a disk too small for the restored database: refused up front with exit 5, nothing changed', async () => {
    const lib = libraryOnTmpfs(base, kib(librarySize(base) + 256 * 1024))
    const before = dataState(lib.dataDir)
    const args = ['library:restore', incoming.archive, '--yes', '--json', '--no-safety-backup']
    const dry = await runCli([...args, '--dry-run'], {env: lib.env})
    expectDiskFailure(dry, /Not enough free space/)
    const run = await runCli(args, {env: lib.env})
    expectDiskFailure(run, /Not enough free space/)
    expect((parseJson(dry).error as {message: string}).message, 'the dry run says what the restore says').to.equal(
      (parseJson(run).error as {message: string}).message,
    )
    expect(dataState(lib.dataDir)).to.deep.equal(before)
  })

  it("restore --dry-run counts a killed restore's leftover beside the library as free, since the restore removes it first", async () => {
    const incomingBytes = fs.statSync(incoming.databasePath).size
    const lib = libraryOnTmpfs(base, kib(librarySize(base) + incomingBytes + 512 * 1024))
    const gone = spawnSync(process.execPath, ['-e', '']).pid!
    const leftover = path.join(lib.dataDir, `.vpo-backup-tmp-${gone}-0badf00d.restore.db`)
    fs.writeFileSync(leftover, Buffer.alloc(incomingBytes))
    const args = ['library:restore', incoming.archive, '--yes', '--json', '--no-safety-backup']
    const dry = await runCli([...args, '--dry-run'], {env: lib.env})
    expect(dry.code, dry.stdout).to.equal(0)
    expect(fs.existsSync(leftover), 'a dry run removes nothing').to.equal(true)
    const run = await runCli(args, {env: lib.env})
    expect(run.code, run.stdout).to.equal(0)
    expect(fs.existsSync(leftover), 'the restore took it away first').to.equal(false)
    expect(sha256File(lib.databasePath)).to.equal(incoming.databaseSha256)
  })

  it('restore: the disk fills up during the extraction', async () => {
    const lib = libraryOnTmpfs(base, kib(librarySize(base) + 512 * 1024))
    const before = dataState(lib.dataDir)
    const {digest} = libraryContent(lib.databasePath)
    const run = await runCli(['library:restore', incoming.archive, '--yes', '--json'], {env: {...lib.env, ...lying}})
    expectDiskFailure(run, /extracting/)
    expect(dataState(lib.dataDir), 'the data directory is as it was').to.deep.equal(before)
    expect(libraryContent(lib.databasePath).digest).to.equal(digest)
  })

  /** Exit 5 (or 1 naming the full disk), saying nothing changed, and the data directory as it was. */
  async function expectSafetyBackupFailure(lib: DataDir, env: NodeJS.ProcessEnv): Promise<void> {
    const before = dataState(lib.dataDir)
    const run = await runCli(['library:restore', incoming.archive, '--yes', '--json'], {env: {...env, ...lying}})
    expect(run.code, run.stdout + run.stderr).to.be.oneOf([5, 1])
    const error = parseJson(run).error as {code: string; message: string}
    console.log(`      exit ${run.code}: ${error.message}`)
    expect(error.message).to.match(/full|space/i)
    expect(error.message).to.match(/nothing was changed|free some space/i)
    expect(run.stdout + run.stderr).to.not.match(/^\s+at\s/m)
    expect(dataState(lib.dataDir), 'the data directory is as it was').to.deep.equal(before)
    expect(fs.existsSync(lockDirectory(lib.databasePath))).to.equal(false)
  }

  it("restore: the library's disk fills up during the safety backup's snapshot", async () => {
    // Room for the library and the restored copy, and half the safety backup's snapshot.
    const lib = libraryOnTmpfs(
      base,
      kib(librarySize(base) + readArchiveWithPython(incoming.archive).databaseSize! + snapshotBytes / 2),
    )
    await expectSafetyBackupFailure(lib, lib.env)
  })

  it("restore: the backup disk fills up during the safety backup's compression", async () => {
    const lib = cloneLibrary(base)
    fs.mkdirSync(lib.backupDir, {mode: 0o700})
    tmpfs(kib(archiveBytes * 0.4), lib.backupDir)
    await expectSafetyBackupFailure(lib, lib.env)
  })

  it('restore with the safety backup on a disk too small: refused up front with exit 5, nothing changed', async () => {
    const lib = cloneLibrary(base)
    fs.mkdirSync(lib.backupDir, {mode: 0o700})
    tmpfs('1m', lib.backupDir)
    const before = dataState(lib.dataDir)
    const dry = await runCli(['library:restore', incoming.archive, '--dry-run', '--json'], {env: lib.env})
    expectDiskFailure(dry, /Not enough free space/)
    const run = await runCli(['library:restore', incoming.archive, '--yes', '--json'], {env: lib.env})
    expectDiskFailure(run, /Not enough free space/)
    expect(dataState(lib.dataDir)).to.deep.equal(before)
  })
})
