/**
 * One prune at a time per backup location (issue 17 item 7). Two prunes at once each listed the
 * same backups and each reported as kept what the other deleted. Now the second waits (up to 20 s)
 * for the first, holding proper-lockfile's lock on `.vpo-backups` in the directory, and lists only
 * then; it gives up with exit 4 and one sentence. Backup's own --keep pruning takes the same lock.
 * The holder here is another real process holding a real proper-lockfile lock.
 */
import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'

import type {PruneJson} from '../../src/cli/json-results.js'

import {useArchivedLibrary} from '../helpers/archived-libraries.js'
import {copiesWithCreatedAt, regularName} from '../helpers/backup-copies.js'
import {finishCli, parseJson, runCli, startCli} from '../helpers/cli.js'
import {expectHumanError, expectJsonError} from '../helpers/expectations.js'
import {holdLibraryLock} from '../helpers/processes.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'
import {pause, pollUntil} from '../helpers/waiting.js'

const DAY = 86_400_000

describe('faults: two prunes of one location', function () {
  this.timeout(180_000)
  const lib = useArchivedLibrary({files: 30, walFiles: 0})

  after(cleanupTempDirs)

  /** `count` nightly backups, the newest yesterday, in a fresh directory. */
  function nightlies(count: number): {dir: string; names: string[]} {
    const dir = makeTempDir('vpo-prune-lock')
    const times = Array.from(
      {length: count},
      (_, i) => new Date(Date.now() - (i + 1) * DAY).toISOString().slice(0, 19) + 'Z',
    )
    const names = times.map((time) => regularName(time))
    copiesWithCreatedAt(
      lib.archive,
      times.map((createdAt, i) => ({createdAt, dest: path.join(dir, names[i])})),
    )
    return {dir, names}
  }

  const backupsIn = (dir: string) =>
    fs
      .readdirSync(dir)
      .filter((name) => name.startsWith('vpo-library-'))
      .sort()
  const lockOf = (dir: string) => path.join(fs.realpathSync(dir), '.vpo-backups')

  it('waits while another holds the lock, then lists what is left: it never reports a deleted backup as kept', async () => {
    const {dir, names} = nightlies(8)
    const holder = await holdLibraryLock(lockOf(dir))
    const started = Date.now()
    const child = startCli(['library:prune', '--json', '--keep-last', '3', '--path', dir], {env: lib.env})
    const done = finishCli(child)
    await pause(1500)
    // What the first prune does while it holds the lock: deletes the four oldest.
    for (const name of names.slice(4)) fs.rmSync(path.join(dir, name))
    await holder.release()
    const result = await done
    expect(result.code, result.stderr).to.equal(0)
    expect(Date.now() - started).to.be.above(1500)
    const report = parseJson(result) as unknown as PruneJson
    expect(report.kept.map((entry) => path.basename(entry.path))).to.deep.equal(names.slice(0, 3))
    expect(report.removed.map((file) => path.basename(file))).to.deep.equal([names[3]])
    expect(backupsIn(dir)).to.deep.equal(names.slice(0, 3).sort())
    expect(fs.readdirSync(dir), 'the lock is gone').not.to.include('.vpo-backups.lock')
  })

  it('gives up after 20 s with exit 4 and one sentence, deleting nothing; backup --keep says its backup was made', async () => {
    const {dir, names} = nightlies(5)
    const holder = await holdLibraryLock(lockOf(dir))
    try {
      const [human, json, backup] = await Promise.all([
        runCli(['library:prune', '--keep-last', '1', '--path', dir], {env: lib.env}),
        runCli(['library:prune', '--json', '--keep-last', '1', '--path', dir], {env: lib.env}),
        runCli(['library:backup', '--json', '--keep', '1', '--output', `${dir}/`], {env: lib.env}),
      ])
      expect(expectHumanError(human, 4)).to.equal(
        `Error: Another vpo command is pruning the backups in ${dir} and did not finish within 20 s, so nothing was pruned; let it finish, then run this again (a lock left by a killed process counts as stale after 10 s).`,
      )
      expectJsonError(json, 'BACKUPS_LOCKED', 4)
      const made = expectJsonError(backup, 'BACKUPS_LOCKED', 4)
      expect(made).to.match(/^The backup \S+\.tar\.gz was created, but another vpo command is pruning/)
      expect(backupsIn(dir)).to.have.lengthOf(names.length + 1)
    } finally {
      await holder.release()
    }
  })

  it('SIGTERM while waiting ends the wait at once, nothing removed; a missing directory is not waited on', async () => {
    const {dir, names} = nightlies(4)
    const holder = await holdLibraryLock(lockOf(dir))
    try {
      const child = startCli(['library:prune', '--keep-last', '1', '--path', dir], {env: lib.env})
      const done = finishCli(child, 30_000)
      await pause(1500)
      const signalled = Date.now()
      child.kill('SIGTERM')
      const result = await done
      expect(result.signal, 'not killed by the test timeout').not.to.equal('SIGKILL')
      expect(Date.now() - signalled).to.be.below(5000)
      expect(backupsIn(dir)).to.deep.equal([...names].sort())
    } finally {
      await holder.release()
    }

    const started = Date.now()
    const missing = await runCli(['library:prune', '--json', '--keep-last', '1', '--path', path.join(dir, 'nope')], {
      env: lib.env,
    })
    expect(missing.code, missing.stderr).to.equal(0)
    expect(Date.now() - started, 'proper-lockfile retried the missing directory for the whole wait').to.be.below(10_000)
  })

  it('backup --keep waits for a prune in progress, then prunes', async () => {
    const {dir} = nightlies(4)
    const holder = await holdLibraryLock(lockOf(dir))
    const child = startCli(['library:backup', '--json', '--keep', '2', '--output', `${dir}/`], {env: lib.env})
    const done = finishCli(child)
    // However slow the machine, the backup is written first; then it waits, pruning nothing.
    expect(await pollUntil(() => backupsIn(dir).length === 5, 15_000, 20), 'the backup was written').to.equal(true)
    await pause(500)
    expect(backupsIn(dir), 'made, not yet pruned').to.have.lengthOf(5)
    expect(child.exitCode, 'still waiting for the prune').to.equal(null)
    await holder.release()
    const result = await done
    expect(result.code, result.stderr).to.equal(0)
    expect(parseJson(result).pruned).to.have.lengthOf(3)
    expect(backupsIn(dir)).to.have.lengthOf(2)
  })

  it('two prunes started together with different rules: what they remove is disjoint, the last report is the truth', async () => {
    for (let round = 0; round < 3; round++) {
      const {dir} = nightlies(12)
      const [a, b] = await Promise.all([
        runCli(['library:prune', '--json', '--keep-last', '6', '--path', dir], {env: lib.env}),
        runCli(['library:prune', '--json', '--keep-daily', '3', '--path', dir], {env: lib.env}),
      ])
      expect([a.code, b.code], a.stderr + b.stderr).to.deep.equal([0, 0])
      const [first, second] = [parseJson(a), parseJson(b)] as unknown as PruneJson[]
      const removedTwice = first.removed.filter((file) => second.removed.includes(file))
      expect(removedTwice, 'removed by both').to.deep.equal([])
      const left = backupsIn(dir)
      const kept = (report: PruneJson) => report.kept.map((entry) => path.basename(entry.path)).sort()
      expect([kept(first), kept(second)], 'one report matches what is left').to.deep.include(left)
      expect(left).to.have.lengthOf(3)
    }
  })
})
