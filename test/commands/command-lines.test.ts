/**
 * Command lines as people type them (issue 17 items 1 and 5, issue 18 item 8): a repeatable flag
 * before the arguments, `--flag=value`, oclif's own usage errors as one sentence, and `help`.
 */
import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'

import LibraryBackup from '../../src/commands/library/backup.js'
import LibraryBackups from '../../src/commands/library/backups.js'
import LibraryPrune from '../../src/commands/library/prune.js'
import LibraryRestore from '../../src/commands/library/restore.js'
import LibraryVerify from '../../src/commands/library/verify.js'
import {makeAgeKey, missingTools} from '../helpers/age.js'
import {parseJson, runCli} from '../helpers/cli.js'
import {expectHumanError, expectJsonError, runCliChecked} from '../helpers/expectations.js'
import {type DataDir, libraryContent, makeDataDir} from '../helpers/libraries.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

const COMMANDS = [LibraryBackup, LibraryBackups, LibraryPrune, LibraryRestore, LibraryVerify]

describe('command lines as people type them', function () {
  this.timeout(240_000)

  after(cleanupTempDirs)

  describe('repeatable flags take one value per occurrence', () => {
    let lib: DataDir
    let keys: string
    let key: ReturnType<typeof makeAgeKey>
    let other: ReturnType<typeof makeAgeKey>
    let archives: string[]

    before(async function () {
      const missing = missingTools({age: true})
      if (missing) this.skip()
      lib = makeDataDir({files: 40, walFiles: 0})
      keys = makeTempDir('vpo-keys')
      key = makeAgeKey(keys, 'key.txt')
      other = makeAgeKey(keys, 'other.txt')
      archives = []
      for (let i = 0; i < 2; i++) {
        const made = await runCliChecked(
          ['library:backup', '--json', '--encrypt-to', key.recipient, '--encrypt-to', other.recipient],
          lib.env,
        )
        expect(made.code, made.stderr).to.equal(0)
        archives.push(String(parseJson(made).path))
      }
    })

    it('every multiple flag of every command is non-greedy (so --copy-to and any later one are too)', () => {
      const repeatable = COMMANDS.flatMap((command) => repeatableFlags(command))
      expect(repeatable.map((flag) => flag.name)).to.include.members([
        'LibraryBackup --encrypt-to',
        'LibraryBackups --identity',
        'LibraryRestore --identity',
        'LibraryVerify --identity',
      ])
      expect(repeatable.filter((flag) => !flag.nonGreedy).map((flag) => flag.name)).to.deep.equal([])
    })

    for (const form of ['--identity FILE', '--identity=FILE']) {
      it(`restore ${form} BACKUP restores that backup`, async () => {
        const target = makeDataDir({files: 5, walFiles: 0})
        const identity =
          form === '--identity FILE' ? ['--identity', key.identityFile] : [`--identity=${key.identityFile}`]
        const result = await runCliChecked(
          ['library:restore', ...identity, archives[0], '--yes', '--no-safety-backup', '--json'],
          target.env,
        )
        expect(result.code, result.stdout + result.stderr).to.equal(0)
        expect(libraryContent(target.databasePath).rows).to.equal(lib.summary.fileCount)
      })
    }

    it('restore --identity WRONG --identity RIGHT BACKUP: both are identities, the backup is the argument', async () => {
      const result = await runCliChecked(
        [
          'library:restore',
          '--identity',
          makeAgeKey(keys, 'third.txt').identityFile,
          '--identity',
          other.identityFile,
          archives[1],
          '--dry-run',
          '--json',
        ],
        lib.env,
      )
      expect(result.code, result.stdout + result.stderr).to.equal(0)
      expect(parseJson(result).dry_run).to.equal(true)
    })

    it('verify --identity FILE A B checks both backups', async () => {
      for (const identity of [['--identity', key.identityFile], [`--identity=${key.identityFile}`]]) {
        const result = await runCliChecked(['library:verify', ...identity, ...archives, '--json'], lib.env)
        expect(result.code, result.stdout + result.stderr).to.equal(0)
        const checks = parseJson(result).backups as Array<{ok: boolean; path: string}>
        expect(checks.map((check) => [check.path, check.ok])).to.have.deep.members(archives.map((file) => [file, true]))
      }
    })

    it('backups --identity FILE --path DIR reads the metadata; a stray word is refused, not read as a key', async () => {
      const listed = await runCliChecked(
        ['library:backups', '--identity', key.identityFile, '--path', lib.backupDir, '--json'],
        lib.env,
      )
      expect(listed.code, listed.stderr).to.equal(0)
      const backups = parseJson(listed).backups as Array<{readable: boolean}>
      expect(backups.map((entry) => entry.readable)).to.deep.equal([true, true])

      const stray = await runCli(['library:backups', '--identity', key.identityFile, 'extra'], {env: lib.env})
      expect(expectHumanError(stray, 2)).to.include('Unexpected argument: extra')
    })

    it('backup --encrypt-to R1 --encrypt-to=R2 encrypts to both; a stray word is not taken as a recipient', async () => {
      const out = makeTempDir('vpo-out')
      const made = await runCliChecked(
        ['library:backup', '--encrypt-to', key.recipient, `--encrypt-to=${other.recipient}`, '-o', `${out}/`, '--json'],
        lib.env,
      )
      expect(made.code, made.stderr).to.equal(0)
      for (const identity of [key, other]) {
        const verified = await runCliChecked(
          ['library:verify', '--identity', identity.identityFile, String(parseJson(made).path), '--json'],
          lib.env,
        )
        expect(verified.code, verified.stdout).to.equal(0)
      }

      const stray = await runCli(['library:backup', '--encrypt-to', key.recipient, 'stray', '-o', `${out}/`], {
        env: lib.env,
      })
      expect(expectHumanError(stray, 2)).to.include('Unexpected argument: stray')
      expect(fs.readdirSync(out)).to.have.lengthOf(1)
    })
  })

  describe("oclif's usage errors are one sentence, exit 2", () => {
    const cases: Array<{args: string[]; says: RegExp}> = [
      {
        args: ['library:backup', '--keep', '0'],
        says: /^Error: --keep: expected an integer greater than or equal to 1 but received 0; see vpo library:backup --help/,
      },
      {
        args: ['library:prune', '--keep-last', 'many'],
        says: /^Error: --keep-last: expected an integer but received many;/,
      },
      {
        args: ['library:backup', '--frobnicate'],
        says: /^Error: Nonexistent flag: --frobnicate; see vpo library:backup --help/,
      },
      {args: ['library:verify', '--max-age'], says: /^Error: Flag --max-age expects a value;/},
      {
        args: ['library:restore', '--path', 'somewhere'],
        says: /^Error: All of the following must be provided when using --path: --latest;/,
      },
      {args: ['library:backups', 'extra'], says: /^Error: Unexpected argument: extra;/},
    ]
    for (const {args, says} of cases) {
      it(args.join(' '), async () => {
        const dataDir = path.join(makeTempDir('vpo-usage'), 'vpo')
        const human = await runCli(args, {env: {VPO_DATA_DIR: dataDir}})
        expect(expectHumanError(human, 2)).to.match(says)
        expect(human.stderr).not.to.match(/›|USAGE|Parsing/)
        const json = await runCli([...args, '--json'], {env: {VPO_DATA_DIR: dataDir}})
        expect(expectJsonError(json, 'USAGE_ERROR', 2)).to.include(human.stderr.slice('Error: '.length).split(';')[0])
        expect(fs.existsSync(dataDir), 'nothing was made').to.equal(false)
      })
    }
  })

  describe('a duration oclif could not parse is a usage error in our words, exit 2, before anything is done', () => {
    const cases = [
      {args: ['library:verify', '--max-age', '3x'], says: '"x" is not a unit (use y, m, w, d or h)'},
      {args: ['library:prune', '--keep-within', 'forever'], says: 'it is not a number followed by a unit'},
      {args: ['library:backup', '--keep-within', '0d'], says: 'it is zero'},
    ]
    for (const {args, says} of cases) {
      it(args.join(' '), async () => {
        const dataDir = path.join(makeTempDir('vpo-duration'), 'vpo')
        const sentence = `Invalid duration "${args[2]}": ${says}; write a number and a unit, for example 36h, 7d, 2w, 6m (months), 1y or 1y6m.`
        const human = await runCli(args, {env: {VPO_DATA_DIR: dataDir}})
        expect(expectHumanError(human, 2)).to.equal(`Error: ${sentence}`)
        const json = await runCli([...args, '--json'], {env: {VPO_DATA_DIR: dataDir}})
        expect(expectJsonError(json, 'USAGE_ERROR', 2)).to.equal(sentence)
        expect(fs.existsSync(dataDir), 'nothing was made').to.equal(false)
      })
    }
  })

  describe('help from a checkout', () => {
    it('bin/run.js help, help TOPIC and help COMMAND show help, exit 0', async () => {
      const root = await runCli(['help'])
      expect(root.code, root.stderr).to.equal(0)
      expect(root.stdout).to.include('TOPICS').and.include('library')
      const topic = await runCli(['help', 'library'])
      expect(topic.code, topic.stderr).to.equal(0)
      expect(topic.stdout).to.include('library:restore')
      const command = await runCli(['help', 'library:restore'])
      expect(command.code, command.stderr).to.equal(0)
      expect(command.stdout).to.include('USAGE').and.include('--identity=FILE')
      expect(command.stderr).to.equal('')
    })
  })
})

/** The `multiple` flags of a command, and whether each takes one value per occurrence. */
function repeatableFlags(command: (typeof COMMANDS)[number]): Array<{name: string; nonGreedy: boolean}> {
  return Object.entries(command.flags ?? {})
    .filter(([, flag]) => flag.type === 'option' && flag.multiple)
    .map(([name, flag]) => ({
      name: `${command.name} --${name}`,
      nonGreedy: 'multipleNonGreedy' in flag && flag.multipleNonGreedy === true,
    }))
}
