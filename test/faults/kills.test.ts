/**
 * kill -9 at random instants: of library:backup on a ~25 MB library, and of library:restore over a
 * library whose WAL holds recent commits. A killed run may leave its lock and temporary files (that
 * is what -9 means), but never a half-made archive under a final name and never a damaged or
 * blended library; the next run takes the stale lock over and cleans up after the dead one.
 *
 * The instants come from a seeded generator; the seed is printed, and FAULT_SEED=N reruns it.
 */
import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'

import {archivedLibrary, type ArchivedLibrary, knownLibrary, type KnownLibrary} from '../helpers/archived-libraries.js'
import {finishCli, parseJson, runCli, startCli} from '../helpers/cli.js'
import {faultSeed, measure, msForOneRun, seededRandom} from '../helpers/faults.js'
import {preloadHook} from '../helpers/filesystems.js'
import {ageLock, listArchives, listTemps, lockDirectory, TEMP_PREFIX} from '../helpers/leftovers.js'
import {cloneLibrary, type DataDir, libraryContent, makeDataDir, sha256File} from '../helpers/libraries.js'
import {type ArchiveCheck, validateArchiveWithPython} from '../helpers/python-archives.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

/** Kills that must land inside a run; runs that finish before their kill do not count. */
const BACKUP_KILLS = 22
const RESTORE_KILLS = 22
/** Give up (and fail) after this many attempts: the timing estimate is broken. */
const MAX_ATTEMPTS = 100

/**
 * Kill instants: anywhere from just before the work starts to just after the run would end. The
 * machine's load changes how long a run takes, so the estimate follows the latest full runs.
 */
class Instants {
  private readonly rand: () => number

  constructor(
    seed: number,
    private startupMs: number,
    private totalMs: number,
  ) {
    this.rand = seededRandom(seed)
  }

  next(): number {
    const from = this.startupMs * 0.6
    const to = this.totalMs * 1.15
    return Math.round(from + this.rand() * (to - from))
  }

  /** A full run just took `ms`: move the estimate towards it. */
  observe(ms: number): void {
    this.totalMs = Math.round(this.totalMs * 0.5 + ms * 0.5)
  }
}

async function killAfter(args: string[], env: NodeJS.ProcessEnv, delayMs: number) {
  const started = Date.now()
  const child = startCli(args, {env})
  const timer = setTimeout(() => child.kill('SIGKILL'), delayMs)
  const result = await finishCli(child)
  clearTimeout(timer)
  return {...result, pid: child.pid!, elapsedMs: Date.now() - started}
}

describe('faults: kill -9', function () {
  this.timeout(300_000)

  after(() => cleanupTempDirs())

  describe('library:backup killed at random instants (~25 MB library)', () => {
    let lib: DataDir
    let liveSha: {db: string; wal: string}
    let startupMs: number
    let totalMs: number

    before(async () => {
      lib = makeDataDir({files: 22_000, walFiles: 25})
      liveSha = {db: sha256File(lib.databasePath), wal: sha256File(`${lib.databasePath}-wal`)}
      const empty = makeTempDir('vpo-empty')
      startupMs = await measure(() => runCli(['library:backups', '--json', '--path', empty], {env: lib.env}))
      totalMs = await measure(async () => {
        const result = await runCli(['library:backup', '--json'], {env: lib.env})
        expect(result.code, result.stderr).to.equal(0)
        fs.rmSync(String(parseJson(result).path))
      })
      const size = fs.statSync(lib.databasePath).size + fs.statSync(`${lib.databasePath}-wal`).size
      console.log(`      library ${(size / 1e6).toFixed(1)} MB; startup ${startupMs} ms, backup ${totalMs} ms`)
    })

    it(`never leaves an invalid archive under a final name, never touches the live database, and the next backup recovers (${BACKUP_KILLS} kills)`, async () => {
      const seed = faultSeed('backup kill -9')
      const instants = new Instants(seed, startupMs, totalMs)
      const validated = new Map<string, ArchiveCheck>()
      const failures: string[] = []
      const tally = {killed: 0, completed: 0, leftTemps: 0, leftLock: 0, recoveries: 0}

      let trial = 0
      for (; tally.killed < BACKUP_KILLS && trial < MAX_ATTEMPTS; trial++) {
        const delay = instants.next()
        const where = `trial ${trial} (seed ${seed}, kill after ${delay} ms)`
        const run = await killAfter(['library:backup', '--json'], lib.env, delay)
        if (run.signal === 'SIGKILL') tally.killed++
        else if (run.code === 0) {
          tally.completed++
          instants.observe(run.elapsedMs)
        } else failures.push(`${where}: exited ${run.code} without being killed: ${run.stdout}${run.stderr}`)

        // Every archive under a final name is whole.
        for (const name of listArchives(lib.backupDir)) {
          const file = path.join(lib.backupDir, name)
          const key = `${name}:${fs.statSync(file).size}`
          if (!validated.has(key)) validated.set(key, validateArchiveWithPython(file))
          const check = validated.get(key)!
          if (!check.ok) failures.push(`${where}: ${name} is under a final name but invalid: ${check.reason}`)
          else if (check.rows !== lib.summary.fileCount)
            failures.push(`${where}: ${name} holds ${check.rows} files, not ${lib.summary.fileCount}`)
        }

        // The live database and its WAL, byte for byte.
        if (sha256File(lib.databasePath) !== liveSha.db) failures.push(`${where}: library.db changed`)
        if (sha256File(`${lib.databasePath}-wal`) !== liveSha.wal) failures.push(`${where}: library.db-wal changed`)

        const deadTemps = listTemps(lib.backupDir).filter((name) => name.startsWith(`${TEMP_PREFIX}${run.pid}-`))
        const lockLeft = fs.existsSync(lockDirectory(lib.databasePath))
        if (deadTemps.length > 0) tally.leftTemps++
        if (lockLeft) tally.leftLock++
        // Every third kill (and the last), check that the next backup recovers; otherwise the
        // next trial's run, after the lock is aged, takes over from the dead one.
        if (run.signal !== 'SIGKILL' || (tally.killed % 3 !== 0 && tally.killed < BACKUP_KILLS)) {
          ageLock(lib.databasePath, 20)
          continue
        }

        // The next backup, once the dead run's lock is stale, succeeds and removes its leftovers.
        ageLock(lib.databasePath, 20)
        const nextStarted = Date.now()
        const next = await runCli(['library:backup', '--json'], {env: lib.env})
        instants.observe(Date.now() - nextStarted)
        tally.recoveries++
        if (next.code !== 0) {
          failures.push(`${where}: the next backup failed (${next.code}): ${next.stdout}${next.stderr}`)
          continue
        }

        const leftover = listTemps(lib.backupDir)
        if (leftover.length > 0)
          failures.push(`${where}: temporary files remain after the next backup: ${leftover.join(', ')}`)
        if (fs.existsSync(lockDirectory(lib.databasePath)))
          failures.push(`${where}: the next backup left the lock behind`)
        const made = validateArchiveWithPython(String(parseJson(next).path))
        if (!made.ok) failures.push(`${where}: the next backup's archive is invalid: ${made.reason}`)
      }

      console.log(
        `      ${trial} trials: ${tally.killed} killed mid-run (${tally.leftTemps} left temporary files, ${tally.leftLock} left the lock), ${tally.completed} finished first; ${tally.recoveries} recovery backups; ${validated.size} archives validated`,
      )
      expect(failures, failures.join('\n')).to.deep.equal([])
      expect(tally.killed, `kills inside the run in ${trial} attempts`).to.equal(BACKUP_KILLS)
    })
  })

  describe('library:restore killed at random instants (old library with WAL commits)', () => {
    let old: KnownLibrary
    let incoming: ArchivedLibrary
    let startupMs: number
    let totalMs: number

    before(async () => {
      old = knownLibrary({files: 5000, walFiles: 300, seed: 7})
      incoming = await archivedLibrary({files: 6000, walFiles: 40, seed: 99})
      expect(old.digest).to.not.equal(incoming.digest)

      const empty = makeTempDir('vpo-empty')
      startupMs = await measure(() => runCli(['library:backups', '--json', '--path', empty], {env: old.env}))
      totalMs = await msForOneRun(['library:restore', incoming.archive, '--yes', '--json'], old)
      console.log(`      startup ${startupMs} ms, restore ${totalMs} ms`)
    })

    it(`leaves exactly the old library or exactly the restored one, whole, and the next restore succeeds (${RESTORE_KILLS} kills)`, async () => {
      const seed = faultSeed('restore kill -9')
      const instants = new Instants(seed, startupMs, totalMs)
      const failures: string[] = []
      const tally = {killed: 0, completed: 0, old: 0, restored: 0, safetyArchives: 0}

      let trial = 0
      for (; tally.killed < RESTORE_KILLS && trial < MAX_ATTEMPTS; trial++) {
        const delay = instants.next()
        const where = `trial ${trial} (seed ${seed}, kill after ${delay} ms)`
        const lib = cloneLibrary(old)
        const run = await killAfter(['library:restore', incoming.archive, '--yes', '--json'], lib.env, delay)
        if (run.signal === 'SIGKILL') tally.killed++
        else if (run.code === 0) {
          tally.completed++
          instants.observe(run.elapsedMs)
        } else failures.push(`${where}: exited ${run.code} without being killed: ${run.stdout}${run.stderr}`)

        const content = libraryContent(lib.databasePath)
        if (content.integrity !== 'ok') failures.push(`${where}: integrity_check says ${content.integrity}`)
        if (content.digest === old.digest) {
          tally.old++
        } else if (content.digest === incoming.digest) {
          tally.restored++
          if (sha256File(lib.databasePath) !== incoming.databaseSha256)
            failures.push(`${where}: restored library.db differs from the archived bytes`)
        } else {
          failures.push(`${where}: the library is neither the old one nor the restored one (${content.rows} files)`)
        }

        if (run.code === 0 && content.digest !== incoming.digest)
          failures.push(`${where}: exit 0 but the library was not restored`)

        // A pre-restore safety backup under a final name is whole, and holds the old library.
        for (const name of listArchives(lib.backupDir)) {
          tally.safetyArchives++
          const check = validateArchiveWithPython(path.join(lib.backupDir, name))
          if (!check.ok) failures.push(`${where}: ${name} is under a final name but invalid: ${check.reason}`)
          else if (check.rows !== old.summary.fileCount)
            failures.push(`${where}: ${name} holds ${check.rows} files, not the old ${old.summary.fileCount}`)
        }

        // The next restore takes the stale lock over, succeeds and cleans up.
        ageLock(lib.databasePath, 20)
        const nextStarted = Date.now()
        const next = await runCli(['library:restore', incoming.archive, '--yes', '--json'], {env: lib.env})
        instants.observe(Date.now() - nextStarted)
        if (next.code !== 0) {
          failures.push(`${where}: the next restore failed (${next.code}): ${next.stdout}${next.stderr}`)
          continue
        }

        const after = libraryContent(lib.databasePath)
        if (after.digest !== incoming.digest || after.integrity !== 'ok')
          failures.push(`${where}: the next restore did not produce the archived library`)
        const leftover = [...listTemps(lib.dataDir), ...listTemps(lib.backupDir)]
        if (leftover.length > 0)
          failures.push(`${where}: temporary files remain after the next restore: ${leftover.join(', ')}`)
        if (fs.existsSync(lockDirectory(lib.databasePath)))
          failures.push(`${where}: the next restore left the lock behind`)
        fs.rmSync(path.dirname(lib.dataDir), {recursive: true, force: true})
      }

      console.log(
        `      ${trial} trials: ${tally.killed} killed mid-run, ${tally.completed} finished first; afterwards ${tally.old} old library, ${tally.restored} restored; ${tally.safetyArchives} safety archives checked`,
      )
      expect(failures, failures.join('\n')).to.deep.equal([])
      expect(tally.killed, `kills inside the run in ${trial} attempts`).to.equal(RESTORE_KILLS)
    })
  })

  /**
   * Random instants rarely land inside the few microseconds of a swap or a publish, so these
   * kill the process at each of those steps on purpose: a preloaded hook sends SIGKILL to the CLI
   * just before (or after) the named file operation.
   */
  describe('kill -9 at each step of the restore swap and the backup publish', () => {
    const killAt = (step: string) =>
      preloadHook(`
import fs from 'node:fs'
import path from 'node:path'
const step = ${JSON.stringify(step)}
const die = (what) => { if (what === step) process.kill(process.pid, 'SIGKILL') }
const name = (p) => path.basename(String(p))
const kind = (p) => (/^vpo-library-/.test(name(p)) ? 'final' : name(p).startsWith(${JSON.stringify(TEMP_PREFIX)}) ? 'temp' : name(p))
for (const op of ['rmSync', 'renameSync', 'linkSync', 'unlinkSync']) {
  const original = fs[op]
  fs[op] = function (a, b, ...rest) {
    const target = op === 'renameSync' || op === 'linkSync' ? b : a
    die(op + ':' + kind(target))
    const result = original.call(this, a, b, ...rest)
    die('after-' + op + ':' + kind(target))
    return result
  }
}
`)

    let old: KnownLibrary
    let incoming: ArchivedLibrary

    before(async () => {
      old = knownLibrary({files: 1500, walFiles: 60, seed: 17})
      incoming = await archivedLibrary({files: 1700, walFiles: 10, seed: 18})
    })

    const swapSteps = [
      'rmSync:library.db-wal', // checkpointed, nothing removed yet
      'after-rmSync:library.db-wal',
      'rmSync:library.db-shm',
      'rmSync:library.db-journal',
      'renameSync:library.db', // everything removed, not yet renamed
      'after-renameSync:library.db', // renamed, directory not yet fsynced, temp not released
    ]
    for (const step of swapSteps) {
      it(`restore killed at ${step}: the old library or the restored one, whole; the next restore succeeds`, async () => {
        const lib = cloneLibrary(old)
        const run = await runCli(['library:restore', incoming.archive, '--yes', '--json', '--no-safety-backup'], {
          env: {...lib.env, ...killAt(step)},
        })
        expect(run.signal, `the hook must fire (exit ${run.code}: ${run.stdout}${run.stderr})`).to.equal('SIGKILL')
        const content = libraryContent(lib.databasePath)
        expect(content.integrity).to.equal('ok')
        expect(
          [old.digest, incoming.digest],
          `after a kill at ${step} the library is a blend (${content.rows} files)`,
        ).to.include(content.digest)
        console.log(`      killed at ${step}: ${content.digest === old.digest ? 'old library' : 'restored library'}`)

        ageLock(lib.databasePath, 20)
        const next = await runCli(['library:restore', incoming.archive, '--yes', '--json'], {env: lib.env})
        expect(next.code, next.stdout + next.stderr).to.equal(0)
        expect(libraryContent(lib.databasePath).digest).to.equal(incoming.digest)
        expect([...listTemps(lib.dataDir), ...listTemps(lib.backupDir)]).to.deep.equal([])
        expect(fs.existsSync(lockDirectory(lib.databasePath))).to.equal(false)
      })
    }

    for (const step of ['linkSync:final', 'after-linkSync:final', 'unlinkSync:temp']) {
      it(`backup killed at ${step}: any archive under a final name is whole; the next backup cleans up`, async () => {
        const lib = cloneLibrary(old)
        const run = await runCli(['library:backup', '--json'], {env: {...lib.env, ...killAt(step)}})
        expect(run.signal, `the hook must fire (exit ${run.code}: ${run.stdout}${run.stderr})`).to.equal('SIGKILL')
        for (const name of listArchives(lib.backupDir)) {
          const check = validateArchiveWithPython(path.join(lib.backupDir, name))
          expect(check.ok, `${name}: ${check.reason}`).to.equal(true)
        }

        ageLock(lib.databasePath, 20)
        const next = await runCli(['library:backup', '--json'], {env: lib.env})
        expect(next.code, next.stdout + next.stderr).to.equal(0)
        expect(listTemps(lib.backupDir)).to.deep.equal([])
        for (const name of listArchives(lib.backupDir))
          expect(validateArchiveWithPython(path.join(lib.backupDir, name)).ok).to.equal(true)
      })
    }

    it('a restore killed before its swap leaves its extracted copy in the data directory: the next run of any command that locks the library removes it', async () => {
      const lib = cloneLibrary(old)
      const run = await runCli(['library:restore', incoming.archive, '--yes', '--json', '--no-safety-backup'], {
        env: {...lib.env, ...killAt('renameSync:library.db')},
      })
      expect(run.signal).to.equal('SIGKILL')
      expect(listTemps(lib.dataDir).length, 'the dead restore left its extracted copy').to.be.greaterThan(0)
      ageLock(lib.databasePath, 20)
      const next = await runCli(['library:backup', '--json'], {env: lib.env})
      expect(next.code, next.stdout + next.stderr).to.equal(0)
      expect(
        listTemps(lib.dataDir),
        "the next run (a backup) removed the dead restore's temporary files",
      ).to.deep.equal([])
    })
  })
})
