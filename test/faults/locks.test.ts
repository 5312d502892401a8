/**
 * Stale locks. The VPO daemon (here: holdLibraryLock, a child node process holding proper-lockfile's lock on the
 * database path, as the daemon does) may die with its lock in place. While the lock is fresh the
 * commands exit 4 and say how long to wait; once it is stale (proper-lockfile: 10 s without an
 * mtime update) they take it over. One case waits the 10 s out for real; the others age the lock
 * directory's mtime, which is exactly what staleness means to proper-lockfile.
 */
import {expect} from 'chai'
import fs from 'node:fs'

import {useArchivedLibrary} from '../helpers/archived-libraries.js'
import {finishCli, parseJson, runCli, startCli} from '../helpers/cli.js'
import {ageLock, listArchives, listTemps, lockDirectory} from '../helpers/leftovers.js'
import {cloneLibrary, type DataDir, libraryContent, makeDataDir, treeState} from '../helpers/libraries.js'
import {holdLibraryLock} from '../helpers/processes.js'
import {cleanupTempDirs} from '../helpers/temp-dirs.js'
import {pause, pollUntil} from '../helpers/waiting.js'

function lockAgeMs(databasePath: string): number {
  return Date.now() - fs.statSync(lockDirectory(databasePath)).mtimeMs
}

/** "taken over in about N s" from a lock error message. */
function promisedWait(message: string): number | undefined {
  const match = /in about (\d+) s/.exec(message)
  return match ? Number(match[1]) : undefined
}

/** A daemon that died holding the library lock `ageSeconds` ago (its lock directory's mtime aged so). */
async function leaveDeadHoldersLock(lib: DataDir, ageSeconds: number): Promise<void> {
  const holder = await holdLibraryLock(lib.databasePath)
  await holder.kill()
  ageLock(lib.databasePath, ageSeconds)
}

describe('faults: stale locks', function () {
  this.timeout(120_000)

  let base: DataDir
  const incoming = useArchivedLibrary({files: 900, walFiles: 5, seed: 42})

  before(() => {
    base = makeDataDir({files: 1500, walFiles: 25, seed: 41})
  })

  after(() => cleanupTempDirs())

  it('a live holder: backup and restore exit 4, change nothing, and say how long a dead holder would take to go stale', async () => {
    const lib = cloneLibrary(base)
    const holder = await holdLibraryLock(lib.databasePath)
    try {
      const before = treeState(lib.dataDir)
      const backup = await runCli(['library:backup', '--json'], {env: lib.env})
      expect(backup.code, backup.stdout + backup.stderr).to.equal(4)
      const error = parseJson(backup).error as {code: string; hint: string; message: string}
      expect(error.code).to.equal('DATABASE_LOCKED')
      const wait = promisedWait(String(error.hint))
      expect(wait, error.message).to.be.a('number')
      // proper-lockfile sets the mtime up to 1 s ahead (it rounds up to whole seconds), so 11 s is honest.
      expect(wait!).to.be.within(1, 11)

      const restore = await runCli(['library:restore', incoming.archive, '--yes', '--json'], {env: lib.env})
      expect(restore.code, restore.stdout + restore.stderr).to.equal(4)
      expect(treeState(lib.dataDir)).to.deep.equal(before)
      const human = await runCli(['library:backup'], {env: lib.env})
      expect(human.code).to.equal(4)
      expect(human.stderr).to.match(/locked by another process/)
      expect(human.stderr).to.match(/in about \d+ s/)
    } finally {
      await holder.kill()
    }
  })

  it('a holder killed with -9: refused while fresh (saying how long to wait), taken over once stale, after a real 10 s wait', async function () {
    this.timeout(60_000)
    const lib = cloneLibrary(base)
    const holder = await holdLibraryLock(lib.databasePath)
    await holder.kill()
    expect(fs.existsSync(lockDirectory(lib.databasePath)), 'kill -9 leaves the lock directory').to.equal(true)

    const fresh = await runCli(['library:backup', '--json'], {env: lib.env})
    expect(fresh.code, fresh.stdout + fresh.stderr).to.equal(4)
    const {hint: message} = parseJson(fresh).error as {hint: string}
    const wait = promisedWait(message)
    expect(wait, message).to.be.a('number')
    const remaining = 10 - lockAgeMs(lib.databasePath) / 1000
    // The promise was made a moment ago; it must match what is left of the 10 s, give or take a second.
    expect(wait!).to.be.within(Math.floor(remaining) - 1, Math.ceil(remaining) + 1)

    // Wait it out for real: proper-lockfile's stale period, measured from the lock's last update.
    const waitMs = 10_000 - lockAgeMs(lib.databasePath) + 1500
    console.log(`      waiting ${(waitMs / 1000).toFixed(1)} s for the dead holder's lock to go stale`)
    await pause(waitMs)
    const stale = await runCli(['library:backup', '--json'], {env: lib.env})
    expect(stale.code, stale.stdout + stale.stderr).to.equal(0)
    expect(fs.existsSync(lockDirectory(lib.databasePath)), 'the lock is released after the backup').to.equal(false)
    expect(listArchives(lib.backupDir)).to.have.length(1)
  })

  it('the wait it announces follows the lock age (4 s old: about 6 s)', async () => {
    const lib = cloneLibrary(base)
    await leaveDeadHoldersLock(lib, 4)
    const run = await runCli(['library:backup', '--json'], {env: lib.env})
    expect(run.code).to.equal(4)
    const {hint: message} = parseJson(run).error as {hint: string}
    expect(promisedWait(message), message).to.be.within(4, 7)
  })

  it('an aged lock of a dead holder is taken over at once by backup and by restore, and released', async () => {
    const lib = cloneLibrary(base)
    await leaveDeadHoldersLock(lib, 20)
    const backup = await runCli(['library:backup', '--json'], {env: lib.env})
    expect(backup.code, backup.stdout + backup.stderr).to.equal(0)
    expect(fs.existsSync(lockDirectory(lib.databasePath))).to.equal(false)

    await leaveDeadHoldersLock(lib, 20)
    const restore = await runCli(['library:restore', incoming.archive, '--yes', '--json'], {env: lib.env})
    expect(restore.code, restore.stdout + restore.stderr).to.equal(0)
    expect(fs.existsSync(lockDirectory(lib.databasePath))).to.equal(false)
    expect(libraryContent(lib.databasePath).integrity).to.equal('ok')
  })

  it('a backup killed with -9 leaves its lock: the next run is refused while fresh, succeeds once stale, and cleans up', async () => {
    const lib = makeDataDir({files: 15_000, walFiles: 10, seed: 43})
    const child = startCli(['library:backup', '--json'], {env: lib.env})
    const done = finishCli(child)
    const appeared = await pollUntil(() => listTemps(lib.backupDir).some((name) => name.endsWith('.tar.gz')), 30_000, 1)
    child.kill('SIGKILL')
    const killed = await done
    expect(appeared && killed.signal === 'SIGKILL', 'the backup was killed mid-archive').to.equal(true)
    expect(fs.existsSync(lockDirectory(lib.databasePath))).to.equal(true)
    expect(listTemps(lib.backupDir).length).to.be.greaterThan(0)

    const fresh = await runCli(['library:backup', '--json'], {env: lib.env})
    expect(fresh.code).to.equal(4)
    expect((parseJson(fresh).error as {hint: string}).hint).to.match(/in about \d+ s/)
    expect(listTemps(lib.backupDir).length, 'a refused run touches nothing').to.be.greaterThan(0)

    ageLock(lib.databasePath, 20)
    const next = await runCli(['library:backup', '--json'], {env: lib.env})
    expect(next.code, next.stdout + next.stderr).to.equal(0)
    expect(listTemps(lib.backupDir)).to.deep.equal([])
    expect(fs.existsSync(lockDirectory(lib.databasePath))).to.equal(false)
  })
})
