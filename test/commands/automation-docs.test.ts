/**
 * The README's "Automatic backups" section runs as printed: every `vpo …` command of its systemd
 * units and crontab line, with `vpo` replaced by `node bin/run.js`, against a real data directory.
 */
import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'

import type {BackupJson, VerifyJson} from '../../src/cli/json-results.js'

import {automationCommands} from '../helpers/automation-snippets.js'
import {copiesWithCreatedAt, createdAtAgo, regularName} from '../helpers/backup-copies.js'
import {parseJson} from '../helpers/cli.js'
import {runCliChecked} from '../helpers/expectations.js'
import {archiveOf, makeDataDir} from '../helpers/libraries.js'
import {cleanupTempDirs} from '../helpers/temp-dirs.js'

const DAY = 86_400_000

describe('README: Automatic backups, run as printed', function () {
  this.timeout(120_000)

  after(() => cleanupTempDirs())

  const commands = automationCommands()

  it('has exactly the nightly backup with retention and the verify with --max-age', () => {
    expect(commands).to.deep.equal([
      ['vpo', 'library:backup', '--keep-daily', '7', '--keep-weekly', '4', '--keep-monthly', '6'],
      ['vpo', 'library:verify', '--latest', '--max-age', '26h'],
    ])
  })

  it('each command exits 0 on a data directory with a month of backups, and the backup prunes by the policy', async () => {
    const data = makeDataDir({files: 300, walFiles: 5})
    const seed = (await archiveOf(data)).path
    fs.mkdirSync(data.backupDir)
    const old = Array.from({length: 30}, (_, index) => createdAtAgo((index + 1) * DAY))
    copiesWithCreatedAt(
      seed,
      old.map((createdAt) => ({createdAt, dest: path.join(data.backupDir, regularName(createdAt))})),
    )
    const safety = regularName(createdAtAgo(2 * DAY + 3_600_000), '-pre-restore')
    fs.copyFileSync(seed, path.join(data.backupDir, safety))

    for (const [, ...args] of commands) {
      const result = await runCliChecked(args, data.env)
      expect(result.code, `${args.join(' ')}\n${result.stdout}${result.stderr}`).to.equal(0)
    }

    // The same commands once more with --json, to see what they did.
    const [backup, verify] = commands.map(([, ...args]) => [...args, '--json'])
    const made = parseJson(await runCliChecked(backup, data.env)) as unknown as BackupJson
    const checked = parseJson(await runCliChecked(verify, data.env)) as unknown as VerifyJson
    expect(checked).to.include({success: true, fresh: true})
    expect(checked.newest_good?.path).to.equal(made.path)
    const left = fs.readdirSync(data.backupDir).filter((name) => !name.includes('-pre-restore'))
    // Today's backups count as one day: 7 days, plus older weeks and months; 30 + 2 made → far fewer.
    expect(left.length).to.be.within(7, 7 + 4 + 6)
    expect(fs.readdirSync(data.backupDir)).to.include(safety)
  })

  it('the verify alarms (exit 9) when the nightly backups stopped, and when there are none', async () => {
    const data = makeDataDir({files: 100, walFiles: 0})
    const [, verify] = commands
    const none = await runCliChecked(verify.slice(1), data.env)
    expect(none.code, none.stderr).to.equal(9)
    const seed = (await archiveOf(data)).path
    fs.mkdirSync(data.backupDir)
    const lastNight = createdAtAgo(27 * 3_600_000)
    copiesWithCreatedAt(seed, [{createdAt: lastNight, dest: path.join(data.backupDir, regularName(lastNight))}])
    const stale = await runCliChecked(verify.slice(1), data.env)
    expect(stale.code, stale.stderr).to.equal(9)
    expect(stale.stderr).to.include('longer ago than 26h')
  })
})
