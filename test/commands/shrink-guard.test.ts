/**
 * The shrink guard on real libraries and real archives: a media drive that is not mounted at rescan
 * empties the library, SQLite still finds it healthy, and nightly retention must not push the
 * backups of the real library out. Each "night" is a real library:backup whose archive is then
 * dated to its night (Python's tarfile rewrites `created_at` and the name), as the prune tests do.
 */
import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'

import type {PruneJson} from '../../src/cli/json-results.js'

import {copyWithCreatedAt, regularName} from '../helpers/backup-copies.js'
import {type CliResult, parseJson} from '../helpers/cli.js'
import {runCliChecked} from '../helpers/expectations.js'
import {type DataDir, libraryContent, makeDataDir} from '../helpers/libraries.js'
import {keepFiles} from '../helpers/library-size.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

const DAY = 86_400_000
const REASON = 'last before the library shrank from 1,500 to 150 files'

/** 03:30 UTC, `n` nights before today. */
function nightsAgo(n: number): string {
  const now = new Date()
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), 3, 30)
  return `${new Date(today - n * DAY).toISOString().slice(0, 19)}Z`
}

/** The one `Error:` line of a human run that still printed its report on stdout. */
function errorLine(result: CliResult): string {
  const lines = result.stderr.split('\n').filter((line) => line.startsWith('Error: '))
  expect(lines, result.stderr).to.have.lengthOf(1)
  return lines[0]
}

function madePath(result: CliResult): string {
  if (result.stdout.trimStart().startsWith('{')) return String(parseJson(result).path)
  const line = result.stdout.split('\n').find((text) => text.startsWith('Backup created: '))
  if (!line) throw new Error(`no backup reported:\n${result.stdout}\n${result.stderr}`)
  return line.slice('Backup created: '.length)
}

describe('shrink guard: the drive that went away', function () {
  this.timeout(300_000)
  let lib: DataDir
  /** Night number → the dated archive. */
  const nights = new Map<number, string>()

  /** Night `n` of 9 (night 9 is last night): a real backup with --keep-daily 2, dated to its night. */
  async function night(n: number, extra: string[] = []): Promise<CliResult> {
    const result = await runCliChecked(['library:backup', '--keep-daily', '2', ...extra], lib.env)
    const made = madePath(result)
    const dated = path.join(lib.backupDir, regularName(nightsAgo(10 - n)))
    copyWithCreatedAt(made, dated, nightsAgo(10 - n))
    fs.rmSync(made)
    nights.set(n, dated)
    return result
  }

  function remaining(): number[] {
    const names = new Set(fs.readdirSync(lib.backupDir))
    return [...nights].filter(([, file]) => names.has(path.basename(file))).map(([n]) => n)
  }

  before(() => {
    lib = makeDataDir({files: 1500, walFiles: 0})
  })

  after(() => cleanupTempDirs())

  it('four full nights prune as usual', async () => {
    for (let n = 1; n <= 4; n++) expect((await night(n, ['--json'])).code).to.equal(0)
    expect(remaining()).to.deep.equal([3, 4])
  })

  it('the night the library lost 90% of its files: the backup is written, nothing is pruned, exit 11 in JSON', async () => {
    keepFiles(lib.databasePath, 150)
    const result = await night(5, ['--json'])
    expect(result.code, result.stderr).to.equal(11)
    const json = parseJson(result)
    expect(json.success).to.equal(false)
    expect(json.file_count).to.equal(150)
    expect(json.pruned).to.deep.equal([])
    expect(json.shrink).to.deep.include({
      previous_file_count: 1500,
      file_count: 150,
      last_backup_before_drop: nights.get(4),
    })
    const error = json.error as Record<string, unknown>
    expect(error).to.include({code: 'LIBRARY_SHRANK', exit_code: 11})
    expect(error.message).to.contain('from 1,500 to 150 files').and.contain(nights.get(4)!)
    expect(remaining()).to.deep.equal([3, 4, 5])
  })

  it('every later night alarms again against the same backup, and --keep-daily removes nothing', async () => {
    for (const n of [6, 7]) {
      const result = await night(n)
      expect(result.code, result.stderr).to.equal(11)
      expect(result.stdout).to.match(/^Backup created: /)
      const line = errorLine(result)
      expect(line).to.contain('from 1,500 to 150 files').and.contain(nights.get(4)!).and.contain('--accept-shrink')
    }

    expect(remaining()).to.deep.equal([3, 4, 5, 6, 7])
  })

  it('restore --latest takes the newest backup, and names the last one before the drop', async () => {
    const dry = await runCliChecked(['library:restore', '--latest', '--dry-run'], lib.env)
    expect(dry.code, dry.stderr).to.equal(0)
    expect(dry.stderr.replaceAll(/\s+(›\s+)?/g, ' ')).to.contain(
      `Warning: ${nights.get(7)} was made after the library shrank from 1,500 to 150 files, a drop not accepted; the last backup before it is ${nights.get(4)} (vpo library:restore "${nights.get(4)}").`,
    )
  })

  it('library:prune keeps the last full backup and says why', async () => {
    const dry = await runCliChecked(['library:prune', '--keep-daily', '2', '--dry-run'], lib.env)
    expect(dry.code, dry.stderr).to.equal(0)
    expect(dry.stdout).to.contain(`keep          ${path.basename(nights.get(4)!)}  (${REASON})`)
    const real = await runCliChecked(['library:prune', '--keep-daily', '2', '--json'], lib.env)
    const json = parseJson(real) as unknown as PruneJson
    expect(json.kept).to.deep.include({path: nights.get(4), reasons: [REASON]})
    expect(json.removed.sort()).to.deep.equal([nights.get(3), nights.get(5)].sort())
    expect(remaining()).to.deep.equal([4, 6, 7])
  })

  it('the last full backup restores all 1,500 files', async () => {
    const fresh = path.join(makeTempDir('vpo-restore'), 'vpo')
    fs.mkdirSync(fresh)
    const restored = await runCliChecked(['library:restore', nights.get(4)!, '--yes'], {VPO_DATA_DIR: fresh})
    expect(restored.code, restored.stderr).to.equal(0)
    expect(libraryContent(path.join(fresh, 'library.db'))).to.include({integrity: 'ok', rows: 1500})
  })

  it('--accept-shrink prunes as usual, and later nights compare with the new size', async () => {
    const accepted = await night(8, ['--accept-shrink'])
    expect(accepted.code, accepted.stderr).to.equal(0)
    expect(accepted.stdout).to.contain('Accepted the drop from 1,500 to 150 files (--accept-shrink).')
    expect(accepted.stdout).to.contain(`Removed old backup: ${nights.get(4)}`)
    expect(remaining()).to.deep.equal([7, 8])
    const next = await night(9, ['--json'])
    expect(next.code, next.stderr).to.equal(0)
    expect(parseJson(next).pruned).to.deep.equal([nights.get(7)])
    const restore = await runCliChecked(['library:restore', '--latest', '--dry-run'], lib.env)
    expect(restore.stderr, 'an accepted drop is not named').to.not.contain('Warning')
  })
})
