/**
 * library:prune, and the retention flags of library:backup, on real archives: one made by the CLI,
 * copied by Python's tarfile under many names with matching `created_at` metadata.
 */
import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'

import type {BackupJson, PruneJson} from '../../src/cli/json-results.js'

import {planRetention, type RetentionCandidate} from '../../src/lib/repository/retention.js'
import {copiesWithCreatedAt, regularName} from '../helpers/backup-copies.js'
import {type CliResult, parseJson} from '../helpers/cli.js'
import {expectHumanError, expectJsonError, runCliChecked} from '../helpers/expectations.js'
import {archiveOf, type DataDir, makeDataDir, treeState} from '../helpers/libraries.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

const DAY = 86_400_000

function pruneJson(result: CliResult): PruneJson {
  return parseJson(result) as unknown as PruneJson
}

function iso(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`
}

describe('library:prune', function () {
  this.timeout(180_000)
  let lib: DataDir
  let archive: string

  before(async () => {
    lib = makeDataDir({files: 200, walFiles: 0})
    archive = (await archiveOf(lib)).path
  })

  after(() => cleanupTempDirs())

  /** A directory of regular backups made at `times`, named as the CLI names them. */
  function backupsAt(times: string[], dir = makeTempDir('vpo-prune')): {dir: string; names: string[]} {
    const names = times.map((createdAt) => regularName(createdAt))
    copiesWithCreatedAt(
      archive,
      times.map((createdAt, index) => ({createdAt, dest: path.join(dir, names[index])})),
    )
    return {dir, names}
  }

  function remaining(dir: string): string[] {
    return fs.readdirSync(dir).sort()
  }

  describe('a year of nightly backups, with gaps, several a day, and files that are not candidates', () => {
    let dir: string
    let regular: string[]
    let expectedRemoved: string[]
    const protectedFiles = [
      regularName('2026-01-15T10:00:00Z', '-pre-restore'),
      regularName('2025-12-01T10:00:00Z', '-damaged'),
      'vpo-library-weekly.tar.gz',
      'notes.txt',
      'vpo-library-2024-01-01T000000Z.tar.gz.part',
    ]
    const directoryLikeBackup = 'vpo-library-2024-06-01T000000Z.tar.gz'
    let dryHuman: CliResult
    let dryJson: CliResult
    let stateBefore: Record<string, string>
    let real: CliResult

    before(async () => {
      const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate(), 3)
      const times: string[] = []
      for (let day = 0; day < 365; day++) {
        if (day >= 40 && day < 55) continue // a fortnight without backups
        times.push(iso(new Date(today - day * DAY)))
        if (day % 7 === 3) times.push(iso(new Date(today - day * DAY + 12 * 3_600_000))) // a second one that day
      }

      ;({dir, names: regular} = backupsAt(times.filter((time) => Date.parse(time) <= Date.now())))
      for (const name of protectedFiles.slice(0, 3)) fs.copyFileSync(archive, path.join(dir, name))
      fs.writeFileSync(path.join(dir, 'notes.txt'), 'the NAS keeps its own snapshots\n')
      fs.copyFileSync(archive, path.join(dir, protectedFiles[4]))
      fs.mkdirSync(path.join(dir, directoryLikeBackup))
      fs.copyFileSync(archive, path.join(dir, directoryLikeBackup, 'inside.tar.gz'))

      const candidates: RetentionCandidate[] = regular.map((name) => ({
        name,
        createdAt: parseName(name),
        kind: 'regular',
        readable: true,
      }))
      const plan = planRetention(candidates, {daily: 7, weekly: 4, monthly: 6}, new Date())
      expectedRemoved = plan
        .filter((decision) => !decision.keep)
        .map((decision) => decision.backup.name)
        .sort()
      // 7 daily + up to 4 weekly + up to 6 monthly, overlapping: the rest goes.
      expect(regular.length - expectedRemoved.length).to.be.within(7, 17)

      stateBefore = treeState(dir)
      const rules = ['--keep-daily', '7', '--keep-weekly', '4', '--keep-monthly', '6']
      dryHuman = await runCliChecked(['library:prune', '--path', dir, ...rules, '--dry-run'])
      dryJson = await runCliChecked(['library:prune', '--path', dir, ...rules, '--dry-run', '--json'])
      expect(treeState(dir), 'the dry runs remove nothing').to.deep.equal(stateBefore)
      real = await runCliChecked(['library:prune', '--path', dir, ...rules, '--json'])
    })

    it('--dry-run lists every backup, kept with its rules or to be removed, and removes nothing', () => {
      expect(dryHuman.code, dryHuman.stderr).to.equal(0)
      const lines = dryHuman.stdout.trimEnd().split('\n')
      expect(lines[0]).to.equal(`Would keep 7 daily, 4 weekly and 6 monthly backups in ${dir}:`)
      const listed = lines.slice(1, -1)
      expect(listed).to.have.lengthOf(regular.length + 3)
      const removals = listed
        .filter((line) => line.startsWith('  would remove  '))
        .map((line) => line.slice('  would remove  '.length))
      expect(removals.sort()).to.deep.equal(expectedRemoved)
      const newest = regular.toSorted().at(-1)!
      expect(listed).to.include(
        `  keep          ${newest}  (daily ${newest.slice(12, 22)}, weekly ${isoWeekOf(newest)}, monthly ${newest.slice(12, 19)}, newest readable)`,
      )
      expect(listed).to.include(`  keep          ${protectedFiles[0]}  (safety backup)`)
      expect(listed).to.include(`  keep          ${protectedFiles[1]}  (damaged)`)
      expect(listed).to.include(`  keep          ${protectedFiles[2]}  (not a regular backup)`)
      expect(lines.at(-1)).to.equal(
        `${regular.length + 3 - expectedRemoved.length} kept, ${expectedRemoved.length} would be removed (dry run: nothing was removed).`,
      )
    })

    it('--dry-run --json has the PruneJson shape and the same plan as planRetention', () => {
      const body = pruneJson(dryJson)
      expect(Object.keys(body).sort()).to.deep.equal(['directory', 'dry_run', 'kept', 'removed', 'success'])
      expect(body).to.include({success: true, dry_run: true, directory: dir})
      expect(body.removed.map((file) => path.basename(file)).sort()).to.deep.equal(expectedRemoved)
      for (const kept of body.kept) {
        expect(Object.keys(kept).sort()).to.deep.equal(['path', 'reasons'])
        expect(kept.reasons).to.not.be.empty
      }
    })

    it('the real run removes exactly the planned backups and nothing else', () => {
      expect(real.code, real.stderr).to.equal(0)
      const body = pruneJson(real)
      expect(body.dry_run).to.equal(false)
      expect(body.removed.map((file) => path.basename(file)).sort()).to.deep.equal(expectedRemoved)
      const expected = [
        ...regular.filter((name) => !expectedRemoved.includes(name)),
        ...protectedFiles,
        directoryLikeBackup,
      ].sort()
      expect(remaining(dir)).to.deep.equal(expected)
      expect(fs.readdirSync(path.join(dir, directoryLikeBackup))).to.deep.equal(['inside.tar.gz'])
    })
  })

  it('a small case, worked out by hand: --keep-daily 2 --keep-weekly 2', async () => {
    // 03-10 is a Tuesday and 03-09 a Monday of ISO week 2026-W11; 03-08 is the Sunday ending W10.
    const {dir, names} = backupsAt([
      '2026-03-10T18:00:00Z',
      '2026-03-10T09:00:00Z',
      '2026-03-09T12:00:00Z',
      '2026-03-08T12:00:00Z',
      '2026-03-01T12:00:00Z',
      '2026-02-20T12:00:00Z',
    ])
    const [a, b, c, d, e, f] = names
    const result = await runCliChecked([
      'library:prune',
      '--path',
      dir,
      '--keep-daily',
      '2',
      '--keep-weekly',
      '2',
      '--json',
    ])
    expect(result.code, result.stderr).to.equal(0)
    const body = pruneJson(result)
    expect(Object.fromEntries(body.kept.map((entry) => [path.basename(entry.path), entry.reasons]))).to.deep.equal({
      [a]: ['daily 2026-03-10', 'weekly 2026-W11', 'newest readable'],
      [c]: ['daily 2026-03-09'],
      [d]: ['weekly 2026-W10'],
    })
    expect(body.removed).to.deep.equal([b, e, f].map((name) => path.join(dir, name)))
    expect(remaining(dir)).to.deep.equal([a, c, d].sort())
  })

  it('a truncated newer backup takes no rule slot: it is kept as damaged, and the rule keeps the whole one', async () => {
    const {dir, names} = backupsAt(['2026-03-10T12:00:00Z', '2026-03-09T12:00:00Z', '2026-03-08T12:00:00Z'])
    fs.truncateSync(path.join(dir, names[0]), 2000)
    const result = await runCliChecked(['library:prune', '--path', dir, '--keep-last', '1'])
    expect(result.code, result.stderr).to.equal(0)
    expect(result.stdout).to.match(new RegExp(`  keep    ${names[0]}  \\(damaged: [^)]*truncated`))
    expect(result.stdout).to.include(`  keep    ${names[1]}  (last, newest readable)`)
    expect(result.stdout).to.include(`  remove  ${names[2]}`)
    expect(remaining(dir)).to.deep.equal([names[0], names[1]].sort())
  })

  it('--keep-within 7d keeps what is younger than 7 days (and the newest readable)', async () => {
    const now = Date.now()
    const {dir, names} = backupsAt([1, 6, 8, 30].map((days) => iso(new Date(now - days * DAY))))
    const result = await runCliChecked(['library:prune', '--path', dir, '--keep-within', '7d', '--json'])
    expect(result.code, result.stderr).to.equal(0)
    const body = pruneJson(result)
    expect(body.kept.map((entry) => [path.basename(entry.path), entry.reasons])).to.deep.equal([
      [names[0], ['within 7d', 'newest readable']],
      [names[1], ['within 7d']],
    ])
    expect(remaining(dir)).to.deep.equal([names[0], names[1]].sort())
  })

  it('prunes the backup directory of VPO_DATA_DIR without --path', async () => {
    const data = makeDataDir({files: 50, walFiles: 0})
    fs.mkdirSync(data.backupDir)
    const {names} = backupsAt(['2026-03-10T12:00:00Z', '2026-03-09T12:00:00Z', '2026-03-08T12:00:00Z'], data.backupDir)
    const result = await runCliChecked(['library:prune', '--keep-last', '2'], data.env)
    expect(result.code, result.stderr).to.equal(0)
    expect(result.stdout.trimEnd().split('\n').at(-1)).to.equal('2 kept, 1 removed.')
    expect(remaining(data.backupDir)).to.deep.equal([names[0], names[1]].sort())
  })

  describe('usage errors (exit 2, nothing removed)', () => {
    let dir: string
    let stateBefore: Record<string, string>

    before(() => {
      ;({dir} = backupsAt(['2026-03-10T12:00:00Z', '2026-03-09T12:00:00Z']))
      stateBefore = treeState(dir)
    })

    afterEach(() => expect(treeState(dir)).to.deep.equal(stateBefore))

    it('no rule', async () => {
      const line = expectHumanError(await runCliChecked(['library:prune', '--path', dir]), 2)
      expect(line).to.match(
        /^Error: No retention rule was given, so nothing can be pruned; pass at least one of --keep-last/,
      )
      expect(
        expectJsonError(await runCliChecked(['library:prune', '--path', dir, '--json']), 'USAGE_ERROR', 2),
      ).to.include('--keep-within')
    })

    it('only rules switched off with 0', async () => {
      expect(
        expectHumanError(await runCliChecked(['library:prune', '--path', dir, '--keep-daily', '0']), 2),
      ).to.include('a count of 0 switches its rule off')
    })

    it('a duration that is not one', async () => {
      expectHumanError(await runCliChecked(['library:prune', '--path', dir, '--keep-within', 'forever']), 2)
    })
  })

  describe('library:backup with retention flags', () => {
    /** A data directory whose backup directory already holds backups of the last five days. */
    async function withOldBackups(): Promise<{data: DataDir; names: string[]}> {
      const data = makeDataDir({files: 200, walFiles: 0})
      fs.mkdirSync(data.backupDir)
      const now = Date.now()
      const {names} = backupsAt(
        [1, 2, 3, 4, 5].map((days) => iso(new Date(now - days * DAY))),
        data.backupDir,
      )
      return {data, names}
    }

    it('--keep-daily 2 prunes after a successful backup', async () => {
      const {data, names} = await withOldBackups()
      const result = await runCliChecked(['library:backup', '--keep-daily', '2', '--json'], data.env)
      expect(result.code, result.stderr).to.equal(0)
      const body = parseJson(result) as unknown as BackupJson
      expect(body.pruned.sort()).to.deep.equal(
        names
          .slice(1)
          .map((name) => path.join(data.backupDir, name))
          .sort(),
      )
      expect(remaining(data.backupDir)).to.deep.equal([names[0], path.basename(body.path)].sort())
    })

    it('--keep N still works, as --keep-last N', async () => {
      const {data, names} = await withOldBackups()
      const result = await runCliChecked(['library:backup', '--keep', '3'], data.env)
      expect(result.code, result.stderr).to.equal(0)
      const made = /^Backup created: (.*)$/m.exec(result.stdout)![1]
      expect(result.stdout.match(/^ {2}Removed old backup: /gm)).to.have.lengthOf(3)
      expect(remaining(data.backupDir)).to.deep.equal([path.basename(made), names[0], names[1]].sort())
    })

    it('a backup never prunes the backup it has just made, even when another sorts newer (same second, or clock skew)', async () => {
      const data = makeDataDir({files: 200, walFiles: 0})
      // A backup stamped a minute ahead (within the clock skew a listing tolerates) sorts newer
      // than anything made now, as a `-2` twin of the same second does.
      const ahead = new Date(Date.now() + 60_000).toISOString().replace(/\.\d+Z$/, 'Z')
      fs.mkdirSync(data.backupDir, {recursive: true})
      copiesWithCreatedAt(archive, [{createdAt: ahead, dest: path.join(data.backupDir, regularName(ahead))}])
      const result = await runCliChecked(['library:backup', '--keep-last', '1', '--json'], data.env)
      expect(result.code, result.stderr).to.equal(0)
      const body = parseJson(result) as unknown as BackupJson
      expect(body.pruned).to.deep.equal([])
      expect(fs.existsSync(body.path), 'the backup just made is still there').to.equal(true)
      expect(remaining(data.backupDir)).to.deep.equal([path.basename(body.path), regularName(ahead)].sort())
    })

    it('a failed backup prunes nothing', async () => {
      const {data} = await withOldBackups()
      const before = treeState(data.backupDir)
      // The library is gone: the backup fails before anything is written.
      fs.rmSync(data.databasePath)
      const result = await runCliChecked(['library:backup', '--keep-last', '1', '--json'], data.env)
      expect(result.code).to.not.equal(0)
      expect(treeState(data.backupDir)).to.deep.equal(before)
    })

    it('a rule switched off with 0 is refused before any backup is written', async () => {
      const {data} = await withOldBackups()
      const before = treeState(data.backupDir)
      expectHumanError(await runCliChecked(['library:backup', '--keep-daily', '0'], data.env), 2)
      expect(treeState(data.backupDir)).to.deep.equal(before)
    })
  })
})

/** `vpo-library-2026-02-05T143022Z.tar.gz` → that instant. */
function parseName(name: string): Date {
  const stamp = name.slice('vpo-library-'.length, 'vpo-library-'.length + 17)
  return new Date(`${stamp.slice(0, 13)}:${stamp.slice(13, 15)}:${stamp.slice(15, 17)}Z`)
}

/** The ISO week of the day in a backup's name, by Python's calendar (not the code under test). */
function isoWeekOf(name: string): string {
  const date = parseName(name)
  const thursday = new Date(
    Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() + 3 - ((date.getUTCDay() + 6) % 7)),
  )
  const week = Math.floor((thursday.getTime() - Date.UTC(thursday.getUTCFullYear(), 0, 1)) / DAY / 7) + 1
  return `${thursday.getUTCFullYear()}-W${String(week).padStart(2, '0')}`
}
