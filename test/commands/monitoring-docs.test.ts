/**
 * README "Monitoring": the systemd drop-in and the crontab line run as printed (only the
 * collector's directory is moved to a temporary one), with the real CLI behind `vpo` and a `curl`
 * that records its pings; the Prometheus rules through promtool's own rule tests.
 */
import {expect} from 'chai'
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import {parseCrontab} from '../helpers/automation-snippets.js'
import {cleanEnv, RUN} from '../helpers/cli.js'
import {type DataDir, makeDataDir} from '../helpers/libraries.js'
import {keepFiles} from '../helpers/library-size.js'
import {readRecipe, serviceWithDropIn} from '../helpers/monitoring-recipes.js'
import {HAS_PROMTOOL, NO_PROMTOOL, promtoolCheckMetrics, readSamples, sample} from '../helpers/prometheus.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

const COLLECTOR = '/var/lib/node_exporter/textfile_collector'
const PING = 'https://hc-ping.com/YOUR-CHECK-UUID'

describe('README: monitoring recipes, run as printed', function () {
  this.timeout(180_000)
  let lib: DataDir
  let bin: string
  let collector: string
  let pings: string
  let env: NodeJS.ProcessEnv

  const metrics = () => path.join(collector, 'vpo-backup.prom')
  const pinged = () => (fs.existsSync(pings) ? fs.readFileSync(pings, 'utf8').split('\n').filter(Boolean) : [])

  before(() => {
    lib = makeDataDir({files: 1500, walFiles: 0})
    bin = makeTempDir('vpo-bin')
    collector = makeTempDir('vpo-textfile')
    pings = path.join(makeTempDir('vpo-pings'), 'pings.log')
    fs.writeFileSync(path.join(bin, 'vpo'), `#!/bin/sh\nexec "${process.execPath}" "${RUN}" "$@"\n`, {mode: 0o755})
    // Records the URL it was asked to fetch, as a ping service would see it.
    fs.writeFileSync(path.join(bin, 'curl'), `#!/bin/sh\nfor a; do last=$a; done\necho "$last" >> "${pings}"\n`, {
      mode: 0o755,
    })
    env = {...cleanEnv(), ...lib.env, PATH: `${bin}:${process.env.PATH}`}
  })

  after(() => cleanupTempDirs())

  /** Runs the service's commands as systemd does: in order, stopping at the first that fails. */
  function runService(): Array<{command: string; status: null | number}> {
    const ran: Array<{command: string; status: null | number}> = []
    for (const argv of serviceWithDropIn('vpo-library-backup.service', dropIn())) {
      const [program, ...args] = argv.map((word) => word.replace(COLLECTOR, collector))
      const local = path.join(bin, path.basename(program))
      const result = spawnSync(local, args, {env, encoding: 'utf8'})
      ran.push({
        command: path.basename(program) + (args[0]?.startsWith('library:') ? ` ${args[0]}` : ''),
        status: result.status,
      })
      if (result.status !== 0) break
    }

    return ran
  }

  const dropIn = () => readRecipe('drop-in', 'vpo-library-backup.service.d/monitoring.conf')

  it('the drop-in keeps the nightly commands, adds --metrics-file to both, and pings last', () => {
    const commands = serviceWithDropIn('vpo-library-backup.service', dropIn())
    const file = `${COLLECTOR}/vpo-backup.prom`
    expect(commands).to.deep.equal([
      [
        '/usr/local/bin/vpo',
        'library:backup',
        '--keep-daily',
        '7',
        '--keep-weekly',
        '4',
        '--keep-monthly',
        '6',
        '--metrics-file',
        file,
      ],
      ['/usr/local/bin/vpo', 'library:verify', '--latest', '--max-age', '26h', '--metrics-file', file],
      ['/usr/bin/curl', '-fsS', '-m', '10', '--retry', '5', '-o', '/dev/null', PING],
    ])
  })

  it('a good night: backup and verify report to the collector, promtool accepts the file, the switch is pinged', () => {
    expect(runService()).to.deep.equal([
      {command: 'vpo library:backup', status: 0},
      {command: 'vpo library:verify', status: 0},
      {command: 'curl', status: 0},
    ])
    expect(pinged()).to.deep.equal([PING])
    const samples = readSamples(metrics())
    expect(sample(samples, 'vpo_backup_last_exit_code', 'backup')).to.equal(0)
    expect(sample(samples, 'vpo_backup_last_exit_code', 'verify')).to.equal(0)
    expect(sample(samples, 'vpo_backup_library_files', 'backup')).to.equal(1500)
    if (HAS_PROMTOOL) expect(promtoolCheckMetrics(metrics()).status).to.equal(0)
    else console.log(`      ${NO_PROMTOOL}`)
  })

  it('the night the library shrank: exit 11 in the metrics, no verify, no ping', () => {
    const verifyRun = sample(readSamples(metrics()), 'vpo_backup_last_run_timestamp_seconds', 'verify')
    keepFiles(lib.databasePath, 150)
    expect(runService()).to.deep.equal([{command: 'vpo library:backup', status: 11}])
    expect(pinged()).to.have.lengthOf(1)
    const samples = readSamples(metrics())
    expect(sample(samples, 'vpo_backup_last_exit_code', 'backup')).to.equal(11)
    expect(sample(samples, 'vpo_backup_last_run_timestamp_seconds', 'verify')).to.equal(verifyRun)
  })

  it('the crontab line: pings after a good night, not after a failed backup', () => {
    const crontab = parseCrontab(readRecipe('crontab', 'monitoring'))
    expect(crontab.entries).to.have.lengthOf(1)
    const command = crontab.entries[0].command.replaceAll(COLLECTOR, collector)
    const runLine = () => spawnSync('sh', ['-c', command], {env, encoding: 'utf8'})
    const before = pinged().length
    const accepted = spawnSync(path.join(bin, 'vpo'), ['library:prune', '--keep-last', '1', '--accept-shrink'], {env})
    expect(accepted.status, String(accepted.stderr)).to.equal(0)
    const good = runLine()
    expect(good.status, good.stderr).to.equal(0)
    expect(good.stdout, 'cron mails nothing after a good night').to.equal('')
    expect(pinged()).to.have.lengthOf(before + 1)
    fs.renameSync(lib.databasePath, `${lib.databasePath}.away`)
    const bad = runLine()
    fs.renameSync(`${lib.databasePath}.away`, lib.databasePath)
    expect(bad.status).to.equal(1)
    expect(bad.stderr).to.contain('No VPO library database')
    expect(pinged()).to.have.lengthOf(before + 1)
    expect(sample(readSamples(metrics()), 'vpo_backup_last_exit_code', 'backup')).to.equal(1)
  })

  it('promtool accepts the alert rules, and they fire on a failed backup and on a missing one', function () {
    if (!HAS_PROMTOOL) {
      console.log(`      ${NO_PROMTOOL}`)
      this.skip()
    }

    const dir = makeTempDir('vpo-rules')
    fs.writeFileSync(path.join(dir, 'vpo-backup.rules.yml'), readRecipe('prometheus-rules', 'vpo-backup.rules.yml'))
    const checked = spawnSync('promtool', ['check', 'rules', 'vpo-backup.rules.yml'], {cwd: dir, encoding: 'utf8'})
    expect(checked.status, checked.stdout + checked.stderr).to.equal(0)
    fs.writeFileSync(path.join(dir, 'test.yml'), RULE_TESTS)
    const tested = spawnSync('promtool', ['test', 'rules', 'test.yml'], {cwd: dir, encoding: 'utf8'})
    expect(tested.status, tested.stdout + tested.stderr).to.equal(0)
  })
})

/** One backup an hour: good, good, then exit 11; the last success stays at 1 h while time runs on. */
const RULE_TESTS = `rule_files: [vpo-backup.rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1h
    input_series:
      - series: 'vpo_backup_last_exit_code{command="backup",instance="nas"}'
        values: '0 0 11+0x40'
      - series: 'vpo_backup_last_success_timestamp_seconds{command="backup",instance="nas"}'
        values: '3600+0x40'
    alert_rule_test:
      - eval_time: 1h
        alertname: VpoBackupFailed
        exp_alerts: []
      - eval_time: 2h
        alertname: VpoBackupFailed
        exp_alerts:
          - exp_labels: {severity: critical, command: backup, instance: nas}
            exp_annotations:
              summary: 'vpo library:backup on nas exited 11'
              description: 'Exit 11 means the library shrank: mount the media drives and rescan, or pass --accept-shrink.'
      - eval_time: 20h
        alertname: VpoBackupMissing
        exp_alerts: []
      - eval_time: 30h
        alertname: VpoBackupMissing
        exp_alerts:
          - exp_labels: {severity: critical, command: backup, instance: nas}
            exp_annotations:
              summary: 'No successful VPO backup on nas for more than 26 hours'
`
