/**
 * Recipients checked in full when they are read (issue 17 item 2): a key no one can safely encrypt
 * to is a usage error (exit 2) before a snapshot is taken, from the command line, a recipients file
 * or VPO_BACKUP_RECIPIENTS_FILE, in --dry-run too; and a bad default file never stops a plain restore.
 */
import {bech32} from '@scure/base'
import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'

import {makeLocalKey} from '../helpers/age-files.js'
import {makeAgeKey, makeSshKey, missingTools} from '../helpers/age.js'
import {parseJson, runCli} from '../helpers/cli.js'
import {expectHumanError, expectJsonError, runCliChecked} from '../helpers/expectations.js'
import {archiveOf, libraryContent, makeDataDir, treeState} from '../helpers/libraries.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

function wireString(bytes: Buffer): Buffer {
  const length = Buffer.alloc(4)
  length.writeUInt32BE(bytes.length)
  return Buffer.concat([length, bytes])
}

function sshLine(type: string, ...fields: Buffer[]): string {
  return `${type} ${Buffer.concat([wireString(Buffer.from(type)), ...fields.map((field) => wireString(field))]).toString('base64')} someone@nas`
}

/** An ssh-ed25519 key whose 32 bytes (all 0xff: y beyond the field) decode to no curve point. */
function offCurveEd25519(): string {
  return sshLine('ssh-ed25519', Buffer.alloc(32, 0xff))
}

const BAD: Array<{key: string; name: string; says: RegExp}> = [
  {
    name: 'an all-zero age1 key (a low-order point)',
    key: bech32.encode('age', bech32.toWords(new Uint8Array(32)), 120),
    says: /is not a valid age X25519 public key \(age1…\): it is a low-order point/,
  },
  {
    name: 'an age1 key of order 8',
    key: bech32.encode(
      'age',
      bech32.toWords(Buffer.from('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', 'hex')),
      120,
    ),
    says: /is not a valid age X25519 public key \(age1…\): it is a low-order point/,
  },
  {
    name: 'an ssh-ed25519 key of all-0xff bytes (no curve point)',
    key: offCurveEd25519(),
    says: /is not a valid ssh-ed25519 public key: its 32 bytes are not a point on the Ed25519 curve/,
  },
  {
    name: 'an ssh-ed25519 key that is the all-zero (low-order) point',
    key: sshLine('ssh-ed25519', Buffer.alloc(32)),
    says: /is not a valid ssh-ed25519 public key: it is a low-order point/,
  },
  {
    name: 'an ssh-rsa key with no modulus',
    key: sshLine('ssh-rsa', Buffer.from([1, 0, 1])),
    says: /is not a valid ssh-rsa public key/,
  },
  {
    name: 'an ssh-rsa key with an even exponent',
    key: sshLine('ssh-rsa', Buffer.from([1, 0, 0]), Buffer.concat([Buffer.from([0]), Buffer.alloc(256, 0xc3)])),
    says: /is not a valid ssh-rsa public key: its modulus or exponent is not one of an RSA key/,
  },
  {
    name: 'an ssh-rsa line whose base64 is mangled',
    key: 'ssh-rsa AAAAB3NzaC1yc2E!!!AAAADAQAB',
    says: /is not a valid ssh-rsa public key/,
  },
  {
    name: 'a post-quantum age1pq1 recipient',
    key: `age1pq1${'q'.repeat(80)}`,
    says: /post-quantum age recipients are not supported yet/,
  },
]

describe('recipients are checked in full when read', function () {
  this.timeout(240_000)

  after(cleanupTempDirs)

  for (const bad of BAD) {
    it(`${bad.name}: exit 2 before anything happens, from the flag, a file or the environment, dry run or not`, async () => {
      const lib = makeDataDir({files: 20, walFiles: 0})
      const dir = makeTempDir('vpo-recipients')
      const file = path.join(dir, 'recipients.txt')
      fs.writeFileSync(file, `# the NAS\n${bad.key}\n`)
      const before = treeState(lib.dataDir)
      const ways: Array<{args: string[]; env?: NodeJS.ProcessEnv; where: string}> = [
        {args: ['--encrypt-to', bad.key], where: 'Recipient 1 of --encrypt-to'},
        {args: ['--recipients-file', file], where: `Line 2 of ${file}`},
        {args: [], env: {VPO_BACKUP_RECIPIENTS_FILE: file}, where: `Line 2 of ${file}`},
      ]
      for (const way of ways) {
        for (const dryRun of [['--dry-run'], []]) {
          const env = {...lib.env, ...way.env}
          const human = await runCli(['library:backup', ...dryRun, ...way.args], {env})
          const sentence = expectHumanError(human, 2)
          expect(sentence, sentence).to.match(bad.says)
          expect(sentence).to.include(way.where)
          expect(sentence, 'no big numbers').not.to.match(/\d{20,}/)
          const json = await runCli(['library:backup', '--json', ...dryRun, ...way.args], {env})
          expect(expectJsonError(json, 'USAGE_ERROR', 2)).to.match(bad.says)
        }
      }

      expect(treeState(lib.dataDir), 'no backup, no staging file').to.deep.equal(before)
    })
  }

  it('the keys age-keygen and ssh-keygen make are still accepted, with a bad one among them refused by line', async function () {
    const missing = missingTools({age: true, ssh: true})
    if (missing) this.skip()
    const lib = makeDataDir({files: 20, walFiles: 0})
    const dir = makeTempDir('vpo-recipients')
    const keys = [makeAgeKey(dir).recipient, makeSshKey(dir, 'ed25519').publicKey, makeSshKey(dir, 'rsa').publicKey]
    const file = path.join(dir, 'recipients.txt')
    fs.writeFileSync(file, `${keys.join('\n')}\n`)
    const made = await runCliChecked(['library:backup', '--json', '--recipients-file', file], lib.env)
    expect(made.code, made.stdout + made.stderr).to.equal(0)
    expect(parseJson(made).encrypted).to.equal(true)

    fs.writeFileSync(file, `${keys.join('\n')}\n${offCurveEd25519()}\n`)
    const refused = await runCli(['library:backup', '--recipients-file', file], {env: lib.env})
    expect(expectHumanError(refused, 2)).to.include(`Line 4 of ${file} is not a valid ssh-ed25519 public key`)
  })

  it('a VPO_BACKUP_RECIPIENTS_FILE with a low-order key does not stop the restore of a plain backup', async () => {
    const source = makeDataDir({files: 30, walFiles: 0})
    const archive = await archiveOf(source)
    const target = makeDataDir({files: 5, walFiles: 0})
    const file = path.join(makeTempDir('vpo-recipients'), 'recipients.txt')
    fs.writeFileSync(file, `${BAD[0].key}\n`)
    const restored = await runCliChecked(['library:restore', '--yes', '--json', archive.path], {
      ...target.env,
      VPO_BACKUP_RECIPIENTS_FILE: file,
    })
    expect(restored.code, restored.stdout + restored.stderr).to.equal(0)
    expect(libraryContent(target.databasePath).rows).to.equal(30)
    // Its safety backup is plain, as the library it keeps was never encrypted.
    expect(String(parseJson(restored).safety_backup_path)).to.match(/-pre-restore\.tar\.gz$/)
  })

  it('restoring an encrypted backup over a library: a bad recipients file for its safety backup is exit 2 before anything happens, dry run or not', async () => {
    const keyDir = makeTempDir('vpo-recipients')
    const key = await makeLocalKey(keyDir, 'key.txt')
    const source = makeDataDir({files: 30, walFiles: 0})
    const made = await runCliChecked(['library:backup', '--json', '--encrypt-to', key.recipient], source.env)
    const archive = String(parseJson(made).path)
    const target = makeDataDir({files: 5, walFiles: 0})
    const file = path.join(keyDir, 'recipients.txt')
    fs.writeFileSync(file, `${BAD[0].key}\n`)
    const env = {...target.env, VPO_BACKUP_RECIPIENTS_FILE: file}
    const before = treeState(target.dataDir)
    for (const dryRun of [['--dry-run'], []]) {
      const refused = await runCli(['library:restore', archive, '--yes', '--identity', key.identityFile, ...dryRun], {
        env,
      })
      expect(expectHumanError(refused, 2)).to.include(`Line 1 of ${file}`)
    }

    expect(treeState(target.dataDir), 'nothing restored, no safety backup').to.deep.equal(before)
    // With no safety backup to encrypt, the recipients file is not read.
    const dry = await runCliChecked(
      ['library:restore', archive, '--dry-run', '--json', '--no-safety-backup', '--identity', key.identityFile],
      env,
    )
    expect(dry.code, dry.stderr).to.equal(0)
  })
})
