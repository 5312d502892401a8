/**
 * --metrics-file on library:backup, library:verify and library:prune: real runs write one file in
 * Prometheus text format that promtool accepts, after successes and failures alike, and the last
 * success time survives a failed run.
 */
import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'
import {gzipSync} from 'node:zlib'

import {parseJson} from '../helpers/cli.js'
import {expectHumanError, runCliChecked} from '../helpers/expectations.js'
import {type DataDir, makeDataDir, treeState} from '../helpers/libraries.js'
import {keepFiles} from '../helpers/library-size.js'
import {HAS_PROMTOOL, NO_PROMTOOL, promtoolCheckMetrics, readSamples, sample} from '../helpers/prometheus.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

describe('--metrics-file', function () {
  this.timeout(180_000)
  let lib: DataDir
  let textfileDir: string
  let metrics: string
  let archive: string
  let archiveCreatedAt: number
  const at = (name: string, command: string) => sample(readSamples(metrics), name, command)

  function expectPromtoolAccepts(): void {
    if (!HAS_PROMTOOL) return
    const checked = promtoolCheckMetrics(metrics)
    expect(checked.status, checked.output).to.equal(0)
    expect(checked.output.trim(), 'no lint complaints').to.equal('')
  }

  before(() => {
    if (!HAS_PROMTOOL) console.log(`      ${NO_PROMTOOL}; the values are still read back`)
    lib = makeDataDir({files: 1500, walFiles: 0})
    textfileDir = makeTempDir('vpo-textfile')
    metrics = path.join(textfileDir, 'vpo-backup.prom')
  })

  after(() => cleanupTempDirs())

  it('a successful backup: sizes, files, exit code 0 and its times, promtool-clean, and no temporary file left', async () => {
    const started = Date.now() / 1000
    const result = await runCliChecked(['library:backup', '--json', '--metrics-file', metrics], lib.env)
    const ended = Date.now() / 1000
    expect(result.code, result.stderr).to.equal(0)
    const json = parseJson(result)
    archive = String(json.path)
    archiveCreatedAt = Date.parse(String(json.created_at)) / 1000
    expect(at('vpo_backup_archive_size_bytes', 'backup')).to.equal(fs.statSync(archive).size)
    expect(at('vpo_backup_database_size_bytes', 'backup')).to.equal(json.database_size_bytes)
    expect(at('vpo_backup_library_files', 'backup')).to.equal(1500)
    expect(at('vpo_backup_last_exit_code', 'backup')).to.equal(0)
    expect(at('vpo_backup_last_run_timestamp_seconds', 'backup')).to.be.within(started, ended)
    expect(at('vpo_backup_last_success_timestamp_seconds', 'backup')).to.equal(
      at('vpo_backup_last_run_timestamp_seconds', 'backup'),
    )
    expect(at('vpo_backup_last_duration_seconds', 'backup')).to.be.within(0.001, ended - started)
    expectPromtoolAccepts()
    expect(fs.readdirSync(textfileDir)).to.deep.equal(['vpo-backup.prom'])
    expect(fs.statSync(metrics).mode & 0o777).to.equal(0o644)
  })

  it('a failed backup records its exit code and keeps the last success time', async () => {
    const success = at('vpo_backup_last_success_timestamp_seconds', 'backup')!
    const lastRun = at('vpo_backup_last_run_timestamp_seconds', 'backup')!
    fs.renameSync(lib.databasePath, `${lib.databasePath}.away`)
    try {
      const failed = await runCliChecked(['library:backup', '--metrics-file', metrics], lib.env)
      expect(expectHumanError(failed, 1)).to.contain('No VPO library database')
    } finally {
      fs.renameSync(`${lib.databasePath}.away`, lib.databasePath)
    }

    expect(at('vpo_backup_last_exit_code', 'backup')).to.equal(1)
    expect(at('vpo_backup_last_run_timestamp_seconds', 'backup')).to.be.above(lastRun)
    expect(at('vpo_backup_last_success_timestamp_seconds', 'backup')).to.equal(success)
    expect(at('vpo_backup_library_files', 'backup'), 'the last backup made still describes the library').to.equal(1500)
    expectPromtoolAccepts()
  })

  it('usage errors are runs too: exit code 2', async () => {
    for (const args of [['--keep-daily', '0'], ['--no-such-flag'], ['--max-shrink', 'lots']]) {
      const result = await runCliChecked(['library:backup', ...args, '--metrics-file', metrics], lib.env)
      expect(result.code, args.join(' ')).to.equal(2)
      expect(at('vpo_backup_last_exit_code', 'backup'), args.join(' ')).to.equal(2)
    }

    const equals = await runCliChecked(['library:backup', '--keep-daily', '0', `--metrics-file=${metrics}`], lib.env)
    expect(equals.code).to.equal(2)
    expectPromtoolAccepts()
  })

  it('verify and prune share the file: each command keeps its own samples', async () => {
    const backupSamples = Object.entries(readSamples(metrics)).filter(([key]) => key.includes('command="backup"'))
    const verified = await runCliChecked(['library:verify', '--metrics-file', metrics], lib.env)
    expect(verified.code, verified.stderr).to.equal(0)
    expect(at('vpo_backup_newest_verified_timestamp_seconds', 'verify')).to.equal(archiveCreatedAt)
    expect(at('vpo_backup_failed_archives', 'verify')).to.equal(0)
    expect(at('vpo_backup_last_exit_code', 'verify')).to.equal(0)
    const pruned = await runCliChecked(['library:prune', '--keep-last', '1', '--metrics-file', metrics], lib.env)
    expect(pruned.code, pruned.stderr).to.equal(0)
    expect(at('vpo_backup_last_exit_code', 'prune')).to.equal(0)
    expect(Object.entries(readSamples(metrics)).filter(([key]) => key.includes('command="backup"'))).to.deep.equal(
      backupSamples,
    )
    expectPromtoolAccepts()
  })

  it('a verify that finds a damaged backup: exit 3, one failed archive, the last success kept', async () => {
    const success = at('vpo_backup_last_success_timestamp_seconds', 'verify')!
    fs.truncateSync(archive, Math.floor(fs.statSync(archive).size / 2))
    const verified = await runCliChecked(['library:verify', '--metrics-file', metrics], lib.env)
    expect(verified.code, verified.stderr).to.equal(3)
    expect(at('vpo_backup_failed_archives', 'verify')).to.equal(1)
    expect(at('vpo_backup_last_exit_code', 'verify')).to.equal(3)
    expect(at('vpo_backup_last_success_timestamp_seconds', 'verify')).to.equal(success)
    fs.rmSync(archive)
    expectPromtoolAccepts()
  })

  it('a backup of a library that shrank: exit 11 and the new file count', async () => {
    expect((await runCliChecked(['library:backup', '--metrics-file', metrics], lib.env)).code).to.equal(0)
    keepFiles(lib.databasePath, 100)
    const shrank = await runCliChecked(['library:backup', '--metrics-file', metrics], lib.env)
    expect(shrank.code, shrank.stderr).to.equal(11)
    expect(at('vpo_backup_last_exit_code', 'backup')).to.equal(11)
    expect(at('vpo_backup_library_files', 'backup')).to.equal(100)
    expectPromtoolAccepts()
  })

  it('a dry run is not a run: the file stays as it was', async () => {
    const before = fs.readFileSync(metrics, 'utf8')
    for (const command of [['library:backup'], ['library:prune', '--keep-last', '1']]) {
      const dry = await runCliChecked([...command, '--dry-run', '--metrics-file', metrics], lib.env)
      expect(dry.code, dry.stderr).to.equal(0)
    }

    expect(fs.readFileSync(metrics, 'utf8')).to.equal(before)
  })

  it('a metrics file in a directory that does not exist stops the run before it does anything', async () => {
    const before = treeState(lib.dataDir)
    const missing = path.join(textfileDir, 'no-such-dir', 'vpo.prom')
    const result = await runCliChecked(['library:backup', '--metrics-file', missing], lib.env)
    expect(expectHumanError(result, 1)).to.contain(`The metrics file ${missing} cannot be written`)
    expect(treeState(lib.dataDir)).to.deep.equal(before)
  })

  it('a --metrics-file that names the library, an archive or another file is refused, and the file is left as it was', async () => {
    const other = path.join(textfileDir, 'notes.txt')
    fs.writeFileSync(other, 'not metrics\n')
    const gzipped = path.join(textfileDir, 'vpo-library-2026-01-01T000000Z.tar.gz')
    fs.writeFileSync(gzipped, gzipSync(Buffer.from('vpo_backup_ inside a compressed file')))
    for (const file of [lib.databasePath, gzipped, other]) {
      const before = fs.readFileSync(file)
      const state = treeState(lib.dataDir)
      const result = await runCliChecked(['library:backup', '--metrics-file', file], lib.env)
      expect(expectHumanError(result, 1)).to.contain(
        `The metrics file ${file} already exists and is not a metrics file`,
      )
      expect(fs.readFileSync(file).equals(before), `${file} unchanged`).to.equal(true)
      expect(treeState(lib.dataDir)).to.deep.equal(state)
    }
  })
})
