import {expect} from 'chai'
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {
  AUTOMATION_README,
  automationCommands,
  parseCrontab,
  parseUnit,
  readAutomationSnippets,
  shellCommands,
  unitCommands,
  unitValues,
} from '../helpers/automation-snippets.js'

const BACKUP = ['vpo', 'library:backup', '--keep-daily', '7', '--keep-weekly', '4', '--keep-monthly', '6']
const VERIFY = ['vpo', 'library:verify', '--latest', '--max-age', '26h']

const SYSTEMD_ANALYZE = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((candidate) =>
  fs.existsSync(candidate),
)

/**
 * A `vpo` that records each call's argv in $VPO_STUB_LOG (one `--` line, then one line per
 * argument), prints a report on stdout like the real one, and exits with $STUB_<COMMAND>_EXIT.
 */
const STUB = `#!/bin/sh
printf '%s\\n' -- "$@" >> "$VPO_STUB_LOG"
echo "report of $1 on stdout"
case "$1" in
  library:backup) code=\${STUB_BACKUP_EXIT:-0} ;;
  library:verify) code=\${STUB_VERIFY_EXIT:-0} ;;
  *) code=2 ;;
esac
[ "$code" -eq 0 ] || echo "error of $1 on stderr" >&2
exit "$code"
`

function recordedCalls(log: string): string[][] {
  if (!fs.existsSync(log)) return []
  return fs
    .readFileSync(log, 'utf8')
    .split('--\n')
    .filter((chunk) => chunk !== '')
    .map((chunk) => chunk.replace(/\n$/, '').split('\n'))
}

describe(`automation examples in ${path.basename(AUTOMATION_README)}`, () => {
  const snippets = readAutomationSnippets()
  const unit = (name: string): string => {
    const found = snippets.units.find((u) => u.name === name)
    if (!found) throw new Error(`no unit ${name} in ${AUTOMATION_README}`)
    return found.text
  }

  let scratch: string
  let stubDir: string

  before(() => {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'vpo-automation-'))
    stubDir = path.join(scratch, 'bin')
    fs.mkdirSync(stubDir)
    fs.writeFileSync(path.join(stubDir, 'vpo'), STUB, {mode: 0o755})
  })

  after(() => {
    fs.rmSync(scratch, {recursive: true, force: true})
  })

  it('holds the service, its timer, the alert template and one crontab', () => {
    expect(snippets.units.map((u) => u.name)).to.deep.equal([
      'vpo-library-backup.service',
      'vpo-library-backup.timer',
      'vpo-library-backup-alert@.service',
    ])
  })

  describe('systemd units', () => {
    it('have the sections and keys their type needs (structural check)', () => {
      const service = parseUnit(unit('vpo-library-backup.service'))
      expect(service.map((s) => s.name)).to.deep.equal(['Unit', 'Service'])
      expect(unitValues(service, 'Service', 'Type')).to.deep.equal(['oneshot'])
      expect(unitValues(service, 'Service', 'User')).to.have.length(1)
      expect(unitValues(service, 'Service', 'ExecStart')).to.have.length(1)

      const timer = parseUnit(unit('vpo-library-backup.timer'))
      expect(timer.map((s) => s.name)).to.deep.equal(['Unit', 'Timer', 'Install'])
      expect(unitValues(timer, 'Timer', 'OnCalendar')).to.have.length(1)
      expect(unitValues(timer, 'Timer', 'Persistent')).to.deep.equal(['true'])
      expect(unitValues(timer, 'Install', 'WantedBy')).to.deep.equal(['timers.target'])
      // A timer starts the service of the same name unless Unit= says otherwise.
      expect(unitValues(timer, 'Timer', 'Unit')).to.deep.equal([])

      const alert = parseUnit(unit('vpo-library-backup-alert@.service'))
      expect(alert.map((s) => s.name)).to.deep.equal(['Unit', 'Service'])
      expect(unitValues(alert, 'Service', 'ExecStart')).to.have.length(1)
    })

    it('alert when the backup or its verification fails: OnFailure names the alert template', () => {
      const service = parseUnit(unit('vpo-library-backup.service'))
      expect(unitValues(service, 'Unit', 'OnFailure')).to.deep.equal(['vpo-library-backup-alert@%n.service'])
      // The verify is ExecStartPost of a oneshot: it runs only after a good backup and its failure fails the unit.
      expect(unitCommands(unit('vpo-library-backup.service')).map((argv) => ['vpo', ...argv.slice(1)])).to.deep.equal([
        BACKUP,
        VERIFY,
      ])
      expect(unitValues(service, 'Service', 'ExecStartPost')).to.have.length(1)
    })

    it('pass systemd-analyze verify (vpo replaced by a stub, as the units need an existing executable)', function () {
      if (!SYSTEMD_ANALYZE) {
        console.log('      systemd-analyze is not installed: only the structural check ran')
        this.skip()
      }

      const unitDir = path.join(scratch, 'units')
      fs.mkdirSync(unitDir, {recursive: true})
      const stub = path.join(stubDir, 'vpo')
      const files = snippets.units.map(({name, text}) => {
        const file = path.join(unitDir, name)
        fs.writeFileSync(file, text.replaceAll(/^(Exec\w+=[-@:+!]*)\S*\/vpo(?=\s)/gm, `$1${stub}`))
        return file
      })
      expect(fs.readFileSync(files[0], 'utf8')).to.include(`ExecStart=${stub} library:backup`)

      const result = spawnSync(SYSTEMD_ANALYZE!, ['verify', ...files], {encoding: 'utf8', cwd: unitDir})
      // Warnings (an unknown key, a calendar that does not parse) leave the exit status 0: any output fails.
      expect({status: result.status, output: `${result.stdout}${result.stderr}`}).to.deep.equal({status: 0, output: ''})
    })

    it('schedule an OnCalendar that systemd-analyze calendar parses', () => {
      const [onCalendar] = unitValues(parseUnit(unit('vpo-library-backup.timer')), 'Timer', 'OnCalendar')
      if (!SYSTEMD_ANALYZE) {
        console.log('      systemd-analyze is not installed: OnCalendar checked by pattern only')
        expect(onCalendar).to.match(/^(\*|\d{4})-(\*|\d{2})-(\*|\d{2}) \d{2}:\d{2}(:\d{2})?$/)
        return
      }

      const result = spawnSync(SYSTEMD_ANALYZE, ['calendar', onCalendar], {encoding: 'utf8'})
      expect(result.status, result.stderr).to.equal(0)
      expect(result.stdout).to.match(/Normalized form: \*-\*-\* 03:30:00/)
    })
  })

  describe('crontab', () => {
    const crontab = parseCrontab(snippets.crontab)

    it('has one entry with five valid time fields, and a PATH that reaches /usr/local/bin', () => {
      expect(crontab.entries).to.have.length(1)
      expect(crontab.entries[0].schedule).to.deep.equal(['30', '3', '*', '*', '*'])
      expect(crontab.environment.PATH.split(':')).to.include('/usr/local/bin')
      expect(crontab.environment).to.have.property('MAILTO')
    })

    it('rejects what cron would not run as shown', () => {
      expect(() => parseCrontab('30 3 * * *\n')).to.throw(/5 time fields and a command/)
      expect(() => parseCrontab('30 3 * * vpo library:backup\n')).to.throw(/day of week field "vpo"/)
      expect(() => parseCrontab('60 3 * * * vpo library:backup\n')).to.throw(/minute field "60"/)
      expect(() => parseCrontab('30 3 * * * date +%F\n')).to.throw(/unescaped %/)
    })

    it('splits sh the way sh does: quotes, escapes, operators, redirections dropped', () => {
      expect(shellCommands(`a 'b c' "d\\"e" f\\ g >/dev/null 2>&1; h || i | j && k > out &`)).to.deep.equal([
        ['a', 'b c', 'd"e', 'f g'],
        ['h'],
        ['i'],
        ['j'],
        ['k'],
      ])
      expect(() => shellCommands('vpo library:backup -o "$HOME/x.tar.gz"')).to.throw(/expands/)
      expect(() => shellCommands("vpo 'unterminated")).to.throw(/unterminated quote/)
    })

    it('extracts the vpo commands as sh would split them', () => {
      expect(shellCommands(crontab.entries[0].command).filter((argv) => argv[0] === 'vpo')).to.deep.equal([
        BACKUP,
        VERIFY,
      ])
    })

    const run = (
      env: NodeJS.ProcessEnv,
    ): {calls: string[][]; stdout: string; stderr: string; status: null | number} => {
      const log = path.join(scratch, `calls-${Math.random().toString(36).slice(2)}.log`)
      const result = spawnSync('/bin/sh', ['-c', crontab.entries[0].command], {
        encoding: 'utf8',
        env: {...env, PATH: `${stubDir}:${crontab.environment.PATH}`, VPO_STUB_LOG: log},
      })
      return {calls: recordedCalls(log), stdout: result.stdout, stderr: result.stderr, status: result.status}
    }

    it('runs exactly those commands, and prints nothing when both succeed (cron mails nothing)', () => {
      const result = run({})
      expect(result.calls).to.deep.equal([BACKUP.slice(1), VERIFY.slice(1)])
      expect({stdout: result.stdout, stderr: result.stderr, status: result.status}).to.deep.equal({
        stdout: '',
        stderr: '',
        status: 0,
      })
    })

    it('prints the backup error and still verifies when the backup fails', () => {
      const result = run({STUB_BACKUP_EXIT: '4'})
      expect(result.calls).to.deep.equal([BACKUP.slice(1), VERIFY.slice(1)])
      expect(result.stdout).to.equal('')
      expect(result.stderr).to.equal('error of library:backup on stderr\n')
    })

    it('alarms on stderr when the verify fails or finds the newest backup stale (exit 9)', () => {
      const result = run({STUB_VERIFY_EXIT: '9'})
      expect(result.stdout).to.equal('')
      expect(result.stderr).to.match(
        /^error of library:verify on stderr\nVPO backup check failed: run vpo library:verify --latest\n$/,
      )
    })
  })

  it('automationCommands returns the vpo commands of units and crontab once each, as argv', () => {
    expect(automationCommands()).to.deep.equal([BACKUP, VERIFY])
    // The units spell the program as an absolute path; the crontab relies on PATH.
    expect(unitCommands(unit('vpo-library-backup.service'))[0][0]).to.equal('/usr/local/bin/vpo')
  })
})
