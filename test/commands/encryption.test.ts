import {Encrypter} from 'age-encryption'
/**
 * Encrypted backups (age) end to end, through the real commands (bin/run.js child processes) on
 * real libraries, with keys made by `age-keygen` and `ssh-keygen` and archives opened or made by
 * the real `age` and `tar`: what we write opens with `age -d`, what `age -r` writes restores,
 * missing or wrong keys are exit 10 with nothing changed, any altered byte is exit 3, and no key
 * ever reaches the output.
 */
import Database from 'better-sqlite3'
import {expect} from 'chai'
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import type {
  BackupJson,
  BackupsJson,
  PruneJson,
  RestoreJson,
  RestorePlanJson,
  VerifyJson,
} from '../../src/cli/json-results.js'

import {makeSshKey, makeToolKeys, missingTools, run, runOk, type ToolKeys} from '../helpers/age.js'
import {type CliResult, parseJson, runCli} from '../helpers/cli.js'
import {expectJsonError, expectNoStackTrace} from '../helpers/expectations.js'
import {type DataDir, libraryContent, makeDataDir, treeState} from '../helpers/libraries.js'
import {archiveMetadata, writePythonArchive} from '../helpers/python-archives.js'
import {type S3Server, startS3Server} from '../helpers/s3-server.js'
import {skipSaying} from '../helpers/skips.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

const CHUNK = 64 * 1024
/** An age payload chunk on disk: 64 KiB of plaintext and a 16-byte tag. */
const SEALED_CHUNK = CHUNK + 16

/** Where the payload starts: after the header's `--- MAC` line and the 16-byte nonce. */
function payloadStart(sealed: Buffer): number {
  const mac = sealed.indexOf('\n--- ')
  return sealed.indexOf('\n', mac + 1) + 1 + 16
}

function flipByte(file: string, position: number, out: string): string {
  const data = fs.readFileSync(file)
  data[position] ^= 0x01
  fs.writeFileSync(out, data, {mode: 0o600})
  return out
}

function written(out: string, data: Buffer): string {
  fs.writeFileSync(out, data, {mode: 0o600})
  return out
}

function ageDecrypt(file: string, identityFile: string): Buffer {
  return runOk('age', ['-d', '-i', identityFile, file])
}

/** `tar -tzv` of a plain archive given as bytes: member names (last column). */
function tarMembers(plain: Buffer): string[] {
  return runOk('tar', ['-tzvf', '-'], plain)
    .toString()
    .trim()
    .split('\n')
    .map((line) => line.split(/\s+/).pop()!)
}

function memberBytes(plain: Buffer, member: string): Buffer {
  return runOk('tar', ['-xzOf', '-', member], plain)
}

function sha256(data: Buffer): string {
  return runOk('sha256sum', ['-'], data).toString().split(' ')[0]
}

describe('encrypted backups (age) through the commands', function () {
  this.timeout(180_000)
  let keys: ToolKeys
  let source: DataDir
  /** Every secret and public key this suite made: none may appear in any command's output. */
  let keyTexts: string[]
  const outputs: CliResult[] = []

  before(function () {
    skipSaying(this, missingTools({age: true, ssh: true}))

    keys = makeToolKeys()
    keyTexts = [
      keys.age.secret,
      keys.other.secret,
      // A slice of each private key body: long enough to be unique, short enough to catch a partial leak.
      keys.ed25519.secretBody.slice(40, 80),
      keys.rsa.secretBody.slice(400, 440),
      keys.age.recipient,
      keys.other.recipient,
      keys.ed25519.publicKey.split(' ')[1],
      keys.rsa.publicKey.split(' ')[1].slice(100, 140),
    ]
    source = makeDataDir({files: 1500, walFiles: 25})
  })

  after(() => {
    cleanupTempDirs()
  })

  afterEach(() => {
    for (const result of outputs.splice(0)) {
      const text = result.stdout + result.stderr
      for (const secret of keyTexts)
        expect(text, `a key appeared in a command's output:\n${text}`).to.not.include(secret)
      // The bare prefix may be named in a hint ("AGE-SECRET-KEY-1…"); key material may not.
      expect(text, `secret key material in a command's output:\n${text}`).to.not.match(/AGE-SECRET-KEY-1[\dA-Z]{8}/i)
      expectNoStackTrace(result)
    }
  })

  /** runCli, remembering the output so afterEach can look for keys in it. */
  async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
    const result = await runCli(args, {env})
    outputs.push(result)
    return result
  }

  async function encryptedBackup(
    data: DataDir,
    args: string[],
    env: NodeJS.ProcessEnv = {},
    output?: string,
  ): Promise<BackupJson> {
    const result = await cli(['library:backup', '--json', '--output', output ?? makeTempDir('vpo-enc'), ...args], {
      ...data.env,
      ...env,
    })
    expect(result.code, result.stdout + result.stderr).to.equal(0)
    return parseJson(result) as unknown as BackupJson
  }

  /**
   * A backup of `source` encrypted to the age key, made before the calling describe's tests (which
   * skip with the suite when the tools are missing) and shared by them: none of them changes it.
   */
  function backupToTheAgeKey(): BackupJson {
    const made = {} as BackupJson
    // eslint-disable-next-line mocha/no-sibling-hooks -- runs in the calling describe, not this suite
    before(async function () {
      if (!keys) this.skip()
      Object.assign(made, await encryptedBackup(source, ['--encrypt-to', keys.age.recipient]))
    })
    return made
  }

  /** The archive opens with the real `age` and holds exactly our two members, the database unchanged. */
  function expectOpensWithAge(made: BackupJson, identityFile: string): void {
    const plain = ageDecrypt(made.path, identityFile)
    expect(tarMembers(plain)).to.deep.equal(['backup_metadata.json', 'library.db'])
    expect(sha256(memberBytes(plain, 'library.db'))).to.equal(made.database_sha256)
  }

  function target(files = 300): DataDir {
    return makeDataDir({files, walFiles: 0})
  }

  /**
   * Restores `archive` with the age key over a fresh library and expects the refusal `code` with
   * `exitCode`, the library untouched; returns that library and the error's message.
   */
  async function restoreRefused(
    archive: string,
    code: string,
    exitCode: number,
  ): Promise<{data: DataDir; message: string}> {
    const data = target()
    const before = treeState(data.dataDir)
    const result = await cli(
      ['library:restore', archive, '--yes', '--json', '--identity', keys.age.identityFile],
      data.env,
    )
    const message = expectJsonError(result, code, exitCode)
    expect(treeState(data.dataDir), 'a refused restore changes nothing').to.deep.equal(before)
    return {data, message}
  }

  describe('library:backup encrypts', () => {
    /** --encrypt-to each kind of key the suite made: age, ssh-ed25519 and ssh-rsa. */
    const toThreeKindsOfKey = () =>
      [keys.age.recipient, keys.ed25519.publicKey, keys.rsa.publicKey].flatMap((key) => ['--encrypt-to', key])

    it('to an age1 key: .tar.gz.age, mode 0600, opened by `age -d` into our two members', async () => {
      const made = await encryptedBackup(source, ['--encrypt-to', keys.age.recipient])
      expect(made.encrypted).to.equal(true)
      expect(made.path).to.match(/\.tar\.gz\.age$/)
      expect(fs.statSync(made.path).mode & 0o777).to.equal(0o600)
      expect(made.archive_size_bytes).to.equal(fs.statSync(made.path).size)
      expect(fs.readFileSync(made.path).subarray(0, 22).toString()).to.equal('age-encryption.org/v1\n')
      expectOpensWithAge(made, keys.age.identityFile)
      expect(
        run('age', ['-d', '-i', keys.other.identityFile, made.path]).status,
        'another key does not open it',
      ).to.not.equal(0)
    })

    it('to an ssh-ed25519 key and to an ssh-rsa key', async () => {
      for (const key of [keys.ed25519, keys.rsa]) {
        const made = await encryptedBackup(source, ['--encrypt-to', key.publicKey])
        expect(made.encrypted).to.equal(true)
        expectOpensWithAge(made, key.identityFile)
      }
    })

    it('to several recipients at once: each identity alone opens it', async () => {
      const made = await encryptedBackup(source, toThreeKindsOfKey())
      for (const identity of [keys.age.identityFile, keys.ed25519.identityFile, keys.rsa.identityFile])
        expectOpensWithAge(made, identity)
    })

    it('says so without --json, with how many recipients but no key', async () => {
      const dir = makeTempDir('vpo-human')
      const result = await cli(['library:backup', '--output', dir, ...toThreeKindsOfKey()], source.env)
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stdout).to.match(/Backup created: .*\.tar\.gz\.age\n/)
      expect(result.stdout).to.include('Encrypted:     age, to 3 recipients')
    })

    it('refuses an --output name that says the opposite of what it holds (exit 2), writing nothing', async () => {
      const dir = makeTempDir('vpo-names')
      const encryptedAsPlain = await cli(
        ['library:backup', '--output', path.join(dir, 'x.tar.gz'), '--json', '--encrypt-to', keys.age.recipient],
        source.env,
      )
      expect(expectJsonError(encryptedAsPlain, 'USAGE_ERROR', 2)).to.include('x.tar.gz.age')
      for (const dryRun of [[], ['--dry-run']]) {
        const plainAsEncrypted = await cli(
          ['library:backup', '--output', path.join(dir, 'y.tar.gz.age'), '--json', ...dryRun],
          source.env,
        )
        expect(expectJsonError(plainAsEncrypted, 'USAGE_ERROR', 2)).to.include('--encrypt-to')
      }

      expect(fs.readdirSync(dir)).to.deep.equal([])
      const named = await encryptedBackup(
        source,
        ['--encrypt-to', keys.age.recipient],
        {},
        path.join(dir, 'mine.tar.gz.age'),
      )
      expect(named.path).to.equal(path.join(dir, 'mine.tar.gz.age'))
      expectOpensWithAge(named, keys.age.identityFile)
    })

    it('to the recipients of --recipients-file and of VPO_BACKUP_RECIPIENTS_FILE', async () => {
      const file = path.join(keys.dir, 'recipients.txt')
      fs.writeFileSync(file, `# backup keys\n${keys.age.recipient}\n\n${keys.ed25519.publicKey}\n`)
      const byFlag = await encryptedBackup(source, ['--recipients-file', file])
      const byEnv = await encryptedBackup(source, [], {VPO_BACKUP_RECIPIENTS_FILE: file})
      for (const made of [byFlag, byEnv]) {
        expect(made.encrypted).to.equal(true)
        expect(made.path).to.match(/\.tar\.gz\.age$/)
        expectOpensWithAge(made, keys.age.identityFile)
        expectOpensWithAge(made, keys.ed25519.identityFile)
      }
    })
  })

  describe('with the identity', () => {
    let made: BackupJson
    let sourceDigest: string

    before(async function () {
      if (!keys) this.skip()
      made = await encryptedBackup(source, ['--encrypt-to', keys.age.recipient])
      sourceDigest = libraryContent(source.databasePath).digest
    })

    it('restore --identity and VPO_BACKUP_IDENTITY_FILE restore the exact database', async () => {
      for (const how of ['flag', 'env']) {
        const data = target()
        const args = [
          'library:restore',
          made.path,
          '--yes',
          '--no-safety-backup',
          '--json',
          ...(how === 'flag' ? ['--identity', keys.age.identityFile] : []),
        ]
        const result = await cli(args, {
          ...data.env,
          ...(how === 'env' ? {VPO_BACKUP_IDENTITY_FILE: keys.age.identityFile} : {}),
        })
        expect(result.code, `${how}: ${result.stdout}${result.stderr}`).to.equal(0)
        const json = parseJson(result) as unknown as RestoreJson
        expect(json.checksum_verified).to.equal(true)
        expect(libraryContent(data.databasePath).digest, how).to.equal(sourceDigest)
      }
    })

    it('an ssh identity restores too', async () => {
      const sshMade = await encryptedBackup(source, ['--encrypt-to', keys.ed25519.publicKey])
      const data = target()
      const result = await cli(
        ['library:restore', sshMade.path, '--yes', '--no-safety-backup', '--identity', keys.ed25519.identityFile],
        data.env,
      )
      expect(result.code, result.stderr).to.equal(0)
      expect(libraryContent(data.databasePath).digest).to.equal(sourceDigest)
    })

    it('restore --dry-run, verify, verify --quick and backups show the metadata', async () => {
      const data = target()
      const before = treeState(data.dataDir)
      const id = ['--identity', keys.age.identityFile]
      const plan = await cli(['library:restore', made.path, '--dry-run', '--json', ...id], data.env)
      expect(plan.code, plan.stderr).to.equal(0)
      const planJson = parseJson(plan) as unknown as RestorePlanJson
      expect(planJson.file_count).to.equal(made.file_count)
      expect(planJson.created_at).to.equal(made.created_at)
      expect(planJson.database_size_bytes).to.equal(made.database_size_bytes)
      expect(treeState(data.dataDir), 'a dry run changes nothing').to.deep.equal(before)

      for (const quick of [[], ['--quick']]) {
        const verify = await cli(['library:verify', made.path, '--json', ...quick, ...id], data.env)
        expect(verify.code, verify.stdout + verify.stderr).to.equal(0)
        const verifyJson = parseJson(verify) as unknown as VerifyJson
        expect(verifyJson.backups).to.have.lengthOf(1)
        expect(verifyJson.backups[0].ok).to.equal(true)
        expect(verifyJson.backups[0].created_at).to.equal(made.created_at)
        expect(verifyJson.backups[0].checksum_verified).to.equal(quick.length === 0)
      }

      const listing = await cli(['library:backups', '--path', path.dirname(made.path), '--json', ...id], data.env)
      expect(listing.code, listing.stderr).to.equal(0)
      const [entry] = (parseJson(listing) as unknown as BackupsJson).backups
      expect(entry).to.include({
        path: made.path,
        encrypted: true,
        readable: true,
        created_at: made.created_at,
        file_count: made.file_count,
      })
      expect(entry.locked).to.equal(undefined)
      expect(entry.database_size_bytes).to.equal(made.database_size_bytes)
    })

    it('restore --latest --identity picks the newest encrypted backup', async () => {
      const library = makeDataDir({files: 400, walFiles: 0})
      const dir = makeTempDir('vpo-latest')
      await encryptedBackup(library, ['--encrypt-to', keys.age.recipient], {}, dir)
      const db = new Database(library.databasePath)
      db.prepare("UPDATE files SET path = path || '.renamed-before-the-newest' WHERE id = 1").run()
      db.close()
      // Names carry the second; a new one keeps the order unambiguous.
      await new Promise((resolve) => setTimeout(resolve, 1100))
      const newest = await encryptedBackup(library, ['--encrypt-to', keys.age.recipient], {}, dir)
      const wanted = libraryContent(library.databasePath).digest

      const data = target()
      const result = await cli(
        [
          'library:restore',
          '--latest',
          '--path',
          dir,
          '--yes',
          '--no-safety-backup',
          '--json',
          '--identity',
          keys.age.identityFile,
        ],
        data.env,
      )
      expect(result.code, result.stdout + result.stderr).to.equal(0)
      expect((parseJson(result) as unknown as RestoreJson).source_path).to.equal(newest.path)
      expect(libraryContent(data.databasePath).digest).to.equal(wanted)
    })
  })

  describe('decrypted copies', () => {
    it('leave nothing in the temp directory, and one left by a run killed with -9 is removed by the next', async function () {
      if (!keys) this.skip()
      const made = await encryptedBackup(source, ['--encrypt-to', keys.age.recipient])
      const tmp = makeTempDir('vpo-tmp')
      // A plaintext copy of an encrypted backup, as a killed restore leaves it: named for a pid that is gone.
      const dead = spawnSync(process.execPath, ['-e', '0']).pid!
      const abandoned = path.join(tmp, `.vpo-backup-tmp-${dead}-0badc0de.decrypted.tar.gz`)
      fs.copyFileSync(made.path, abandoned)
      const data = target()
      for (const command of [
        ['library:verify', made.path],
        ['library:restore', made.path, '--yes', '--no-safety-backup'],
      ]) {
        const result = await cli([...command, '--identity', keys.age.identityFile], {...data.env, TMPDIR: tmp})
        expect(result.code, result.stderr).to.equal(0)
        expect(fs.readdirSync(tmp), command[0]).to.deep.equal([])
      }
    })
  })

  describe('without the right identity', () => {
    const made = backupToTheAgeKey()

    it('restore and verify exit 10 KEY_ERROR with none, changing nothing; backups lists it locked', async () => {
      const data = target()
      const before = treeState(data.dataDir)
      const restore = await cli(['library:restore', made.path, '--yes', '--json'], data.env)
      expect(expectJsonError(restore, 'KEY_ERROR', 10)).to.match(/identity/i)
      expect(treeState(data.dataDir)).to.deep.equal(before)

      const human = await cli(['library:restore', made.path, '--yes'], data.env)
      expect(human.code).to.equal(10)
      expect(human.stderr).to.match(/--identity|VPO_BACKUP_IDENTITY_FILE/)

      const verify = await cli(['library:verify', made.path, '--json'], data.env)
      expect(verify.code, verify.stdout + verify.stderr).to.equal(10)
      expect(treeState(data.dataDir)).to.deep.equal(before)

      const listing = await cli(['library:backups', '--path', path.dirname(made.path), '--json'], data.env)
      expect(listing.code, listing.stderr).to.equal(0)
      const [entry] = (parseJson(listing) as unknown as BackupsJson).backups
      expect(entry).to.include({
        filename: path.basename(made.path),
        encrypted: true,
        locked: true,
        archive_size_bytes: made.archive_size_bytes,
      })
      expect(entry.created_at, 'the time its name carries').to.equal(made.created_at)
      expect(entry.readable).to.equal(false)
      expect([entry.file_count, entry.schema_version, entry.database_size_bytes]).to.deep.equal([null, null, null])

      const table = await cli(['library:backups', '--path', path.dirname(made.path)], data.env)
      expect(table.code, table.stderr).to.equal(0)
      expect(table.stdout).to.include(`${made.created_at.slice(0, 16).replace('T', ' ')} (encrypted)`)
    })

    it('the wrong identity is exit 10, nothing changed', async () => {
      const data = target()
      const before = treeState(data.dataDir)
      const restore = await cli(
        ['library:restore', made.path, '--yes', '--json', '--identity', keys.other.identityFile],
        data.env,
      )
      expectJsonError(restore, 'KEY_ERROR', 10)
      // verify puts its report beside the error (issue 16): the backup is listed, locked, not failed.
      const verify = await cli(['library:verify', made.path, '--json', '--identity', keys.other.identityFile], data.env)
      expect(verify.code, verify.stderr).to.equal(10)
      const body = parseJson(verify) as unknown as VerifyJson & {error: {code: string}}
      expect(body.error.code).to.equal('KEY_ERROR')
      expect(body.backups).to.deep.equal([
        {
          path: made.path,
          ok: false,
          created_at: null,
          checksum_verified: false,
          problem: body.backups[0].problem,
          locked: true,
        },
      ])

      expect(treeState(data.dataDir)).to.deep.equal(before)
    })

    it('restore --latest does not fall back to an older plain backup past an encrypted one it cannot open', async () => {
      // Restoring the older one would quietly bring back stale data: without the key, exit 10.
      const library = makeDataDir({files: 300, walFiles: 0})
      const dir = makeTempDir('vpo-latest-locked')
      await encryptedBackup(library, [], {}, dir)
      await new Promise((resolve) => setTimeout(resolve, 1100))
      const newest = await encryptedBackup(library, ['--encrypt-to', keys.age.recipient], {}, dir)
      const data = target()
      const before = treeState(data.dataDir)
      for (const identity of [[], ['--identity', keys.other.identityFile]]) {
        const result = await cli(
          ['library:restore', '--latest', '--path', dir, '--yes', '--json', ...identity],
          data.env,
        )
        expect(expectJsonError(result, 'KEY_ERROR', 10), identity.join(' ')).to.include(newest.path)
        expect(treeState(data.dataDir)).to.deep.equal(before)
      }

      const opened = await cli(
        ['library:restore', '--latest', '--path', dir, '--dry-run', '--json', '--identity', keys.age.identityFile],
        data.env,
      )
      expect(opened.code, opened.stderr).to.equal(0)
      expect((parseJson(opened) as unknown as RestorePlanJson).source_path).to.equal(newest.path)
    })

    it('an identity file readable by others is refused, saying chmod 600', async () => {
      const loose = path.join(keys.dir, 'loose.txt')
      fs.copyFileSync(keys.age.identityFile, loose)
      fs.chmodSync(loose, 0o644)
      const data = target()
      const before = treeState(data.dataDir)
      const result = await cli(['library:restore', made.path, '--yes', '--json', '--identity', loose], data.env)
      expect(expectJsonError(result, 'KEY_ERROR', 10)).to.include('chmod 600')
      for (const command of ['library:verify', 'library:backups']) {
        const other = await cli(
          [
            command,
            ...(command === 'library:verify' ? [made.path] : ['--path', path.dirname(made.path)]),
            '--identity',
            loose,
          ],
          data.env,
        )
        expect(other.code, `${command}: ${other.stderr}`).to.equal(10)
        expect(other.stderr).to.include('chmod 600')
      }

      expect(treeState(data.dataDir)).to.deep.equal(before)
    })
  })

  describe('keys in the wrong place never reach the output', () => {
    const made = backupToTheAgeKey()

    /** A secret with one character changed: a parser that quotes the bad line would print it. */
    function mistyped(secret: string): string {
      const at = secret.length - 10
      return secret.slice(0, at) + (secret[at] === 'Q' ? 'P' : 'Q') + secret.slice(at + 1)
    }

    it('a mistyped secret in the identity file: exit 10, the line not quoted', async () => {
      const bad = mistyped(keys.age.secret)
      const file = path.join(keys.dir, 'mistyped.txt')
      fs.writeFileSync(
        file,
        `# public key: ${keys.age.recipient}
${bad}
`,
        {mode: 0o600},
      )
      for (const json of [['--json'], []]) {
        const result = await cli(['library:restore', made.path, '--yes', ...json, '--identity', file], target().env)
        expect(result.code, result.stdout + result.stderr).to.equal(10)
        expect(result.stdout + result.stderr).to.not.include(bad.slice(20))
      }
    })

    it('a secret key given where a recipient belongs (--encrypt-to, --recipients-file): refused, not echoed', async () => {
      const file = path.join(keys.dir, 'secret-as-recipients.txt')
      fs.writeFileSync(
        file,
        `${keys.age.secret}
`,
        {mode: 0o600},
      )
      const dir = makeTempDir('vpo-nothing')
      for (const args of [
        ['--encrypt-to', keys.age.secret],
        ['--recipients-file', file],
        ['--recipients-file', keys.age.identityFile],
      ]) {
        for (const json of [['--json'], []]) {
          const result = await cli(['library:backup', '--output', dir, ...json, ...args], source.env)
          expect(result.code, `${args[0]}: ${result.stdout}${result.stderr}`).to.not.equal(0)
        }
      }

      expect(fs.readdirSync(dir), 'no backup written').to.deep.equal([])
    })

    it('a public key, a passphrase-protected ssh key or a missing file as --identity: exit 10, no key printed', async () => {
      const locked = makeSshKey(keys.dir, 'ed25519', 'hunter22')
      const lockedBody = locked.secretBody.slice(40, 80)
      for (const identity of [keys.ed25519.publicFile, locked.identityFile, path.join(keys.dir, 'absent.txt')]) {
        for (const json of [['--json'], []]) {
          const result = await cli(['library:verify', made.path, ...json, '--identity', identity], source.env)
          expect(result.code, `${identity}: ${result.stdout}${result.stderr}`).to.equal(10)
          expect(result.stdout + result.stderr).to.not.include(lockedBody)
          expect(result.stdout + result.stderr).to.not.include(locked.publicKey.split(' ')[1])
        }
      }
    })
  })

  describe('any altered byte', () => {
    let made: BackupJson
    let sealed: Buffer

    before(async function () {
      if (!keys) this.skip()
      // Enough rows for several 64 KiB chunks, so first, middle and last are different chunks.
      const big = makeDataDir({files: 6000, walFiles: 0})
      made = await encryptedBackup(big, ['--encrypt-to', keys.age.recipient])
      sealed = fs.readFileSync(made.path)
      expect(sealed.length - payloadStart(sealed), 'at least four chunks').to.be.above(3 * SEALED_CHUNK)
    })

    const cases: Array<[string, (file: string, out: string) => string]> = [
      ['a byte of the header MAC', (file, out) => flipByte(file, sealed.indexOf('\n--- ') + 10, out)],
      ['a byte of the first chunk', (file, out) => flipByte(file, payloadStart(sealed) + 100, out)],
      ['a byte in the middle', (file, out) => flipByte(file, payloadStart(sealed) + 2 * SEALED_CHUNK + 5000, out)],
      ['a byte of the last chunk', (file, out) => flipByte(file, sealed.length - 8, out)],
      ['the end cut off', (_file, out) => written(out, sealed.subarray(0, -100))],
      [
        'a chunk boundary cut',
        (_file, out) => written(out, sealed.subarray(0, payloadStart(sealed) + 2 * SEALED_CHUNK)),
      ],
      ['a byte appended', (_file, out) => written(out, Buffer.concat([sealed, Buffer.from([0])]))],
    ]

    for (const [what, alter] of cases) {
      it(`${what}: restore exit 3 INVALID_ARCHIVE with the library unchanged, verify exit 3`, async () => {
        const bad = alter(made.path, path.join(makeTempDir('vpo-bad'), path.basename(made.path)))
        expect(run('age', ['-d', '-i', keys.age.identityFile, bad]).status, 'the real age refuses it too').to.not.equal(
          0,
        )
        const {data} = await restoreRefused(bad, 'INVALID_ARCHIVE', 3)

        const verify = await cli(['library:verify', bad, '--json', '--identity', keys.age.identityFile], data.env)
        expect(verify.code, verify.stdout + verify.stderr).to.equal(3)
        const [entry] = (parseJson(verify) as unknown as VerifyJson).backups
        expect(entry.ok).to.equal(false)
        expect(entry.problem).to.be.a('string').and.not.equal('')
      })
    }

    it('a byte of the X25519 stanza is exit 10, by the age design', async () => {
      // The stanza wraps the file key for one recipient; altered, it simply no longer opens with
      // this identity, which age cannot tell apart from "not for you". So it is a key error.
      const stanza = sealed.indexOf('-> X25519 ')
      const position = sealed.indexOf('\n', stanza) + 5
      // Another base64 letter, so the stanza still parses: only then is it "not for this key".
      // (A byte that breaks the base64 is a damaged header, exit 3, tested above.)
      const data0 = fs.readFileSync(made.path)
      data0[position] = data0[position] === 0x41 ? 0x42 : 0x41
      const bad = written(path.join(makeTempDir('vpo-bad'), path.basename(made.path)), data0)
      await restoreRefused(bad, 'KEY_ERROR', 10)
    })
  })

  describe('archives from other tools', () => {
    let plainArchive: string
    let members: string
    let sourceDigest: string

    before(async function () {
      if (!keys) this.skip()
      const made = await cli(['library:backup', '--json', '--output', makeTempDir('vpo-plain')], source.env)
      expect(made.code, made.stderr).to.equal(0)
      plainArchive = String(parseJson(made).path)
      members = makeTempDir('vpo-members')
      runOk('tar', ['-xzf', plainArchive, '-C', members])
      sourceDigest = libraryContent(source.databasePath).digest
    })

    it('`tar czf - … | age -r` restores with --identity', async () => {
      const tarred = runOk('tar', ['-czf', '-', '-C', members, 'backup_metadata.json', 'library.db'])
      const file = path.join(makeTempDir('vpo-agetool'), 'x.tar.gz.age')
      fs.writeFileSync(file, runOk('age', ['-r', keys.age.recipient], tarred))
      const data = target()
      const result = await cli(
        ['library:restore', file, '--yes', '--no-safety-backup', '--json', '--identity', keys.age.identityFile],
        data.env,
      )
      expect(result.code, result.stdout + result.stderr).to.equal(0)
      expect(libraryContent(data.databasePath).digest).to.equal(sourceDigest)
    })

    it('an archive in the Python layout, encrypted with `age -r`, restores', async () => {
      const dir = makeTempDir('vpo-python')
      const pythonArchive = path.join(dir, 'python.tar.gz')
      writePythonArchive(path.join(members, 'library.db'), pythonArchive, archiveMetadata(plainArchive))
      const file = path.join(dir, 'python.tar.gz.age')
      runOk('age', ['-r', keys.age.recipient, '-o', file, pythonArchive])
      const data = target()
      const result = await cli(
        ['library:restore', file, '--yes', '--no-safety-backup', '--identity', keys.age.identityFile],
        data.env,
      )
      expect(result.code, result.stderr).to.equal(0)
      expect(libraryContent(data.databasePath).digest).to.equal(sourceDigest)
    })

    for (const lead of ['', '\n  \n']) {
      const what = lead === '' ? '' : ' after blank lines (which age allows)'
      it(`an ASCII-armored one (\`age -a\`)${what} is refused with exit 3, saying to decrypt it with age -d first`, async () => {
        // A choice of this plugin, not of age: armor is for pasting into mail, not for backup files.
        const file = path.join(makeTempDir('vpo-armor'), 'armored.tar.gz.age')
        runOk('age', ['-r', keys.age.recipient, '-a', '-o', file, plainArchive])
        fs.writeFileSync(file, Buffer.concat([Buffer.from(lead), fs.readFileSync(file)]))
        const {message} = await restoreRefused(file, 'UNSUPPORTED_ARCHIVE', 3)
        expect(message).to.include('ASCII-armored').and.include('age -d')
      })
    }

    it('a passphrase-encrypted archive is refused with exit 3, saying to decrypt it with age -d first', async () => {
      const encrypter = new Encrypter()
      encrypter.setPassphrase('correct horse battery staple')
      encrypter.setScryptWorkFactor(2)
      const file = path.join(makeTempDir('vpo-scrypt'), 'pass.tar.gz.age')
      fs.writeFileSync(file, await encrypter.encrypt(fs.readFileSync(plainArchive)), {mode: 0o600})
      expect((await restoreRefused(file, 'UNSUPPORTED_ARCHIVE', 3)).message).to.include('age -d')
    })
  })

  describe('the safety backup of an encrypted restore', () => {
    const made = backupToTheAgeKey()

    it('is encrypted to VPO_BACKUP_RECIPIENTS_FILE when set, opening with the key', async () => {
      const recipients = path.join(keys.dir, 'safety-recipients.txt')
      fs.writeFileSync(recipients, `${keys.age.recipient}\n`)
      const data = target()
      const replaced = libraryContent(data.databasePath).digest
      const result = await cli(['library:restore', made.path, '--yes', '--json', '--identity', keys.age.identityFile], {
        ...data.env,
        VPO_BACKUP_RECIPIENTS_FILE: recipients,
      })
      expect(result.code, result.stdout + result.stderr).to.equal(0)
      const safety = (parseJson(result) as unknown as RestoreJson).safety_backup_path!
      expect(path.basename(safety)).to.match(/-pre-restore(-\d+)?\.tar\.gz\.age$/)
      expect(fs.statSync(safety).mode & 0o777).to.equal(0o600)
      const plain = ageDecrypt(safety, keys.age.identityFile)
      expect(tarMembers(plain)).to.deep.equal(['backup_metadata.json', 'library.db'])
      const copy = path.join(makeTempDir('vpo-safety'), 'library.db')
      fs.writeFileSync(copy, memberBytes(plain, 'library.db'))
      expect(libraryContent(copy).digest, 'the safety backup holds the library that was replaced').to.equal(replaced)
    })

    it('stays a plain .tar.gz without recipients configured', async () => {
      const data = target()
      const result = await cli(
        ['library:restore', made.path, '--yes', '--json', '--identity', keys.age.identityFile],
        data.env,
      )
      expect(result.code, result.stdout + result.stderr).to.equal(0)
      const safety = (parseJson(result) as unknown as RestoreJson).safety_backup_path!
      expect(path.basename(safety)).to.match(/-pre-restore(-\d+)?\.tar\.gz$/)
      expect([...fs.readFileSync(safety).subarray(0, 2)]).to.deep.equal([0x1f, 0x8b])
    })

    it('a broken VPO_BACKUP_RECIPIENTS_FILE stops an encrypted restore before anything changes, never a plain one', async () => {
      const broken = path.join(keys.dir, 'broken-recipients.txt')
      fs.writeFileSync(broken, 'not a recipient\n')
      const plainArchive = (await encryptedBackup(source, [])).path
      const data = target()
      const before = treeState(data.dataDir)
      const encryptedRun = await cli(
        ['library:restore', made.path, '--yes', '--json', '--identity', keys.age.identityFile],
        {...data.env, VPO_BACKUP_RECIPIENTS_FILE: broken},
      )
      expect(expectJsonError(encryptedRun, 'USAGE_ERROR', 2)).to.match(/not a supported recipient/)
      expect(treeState(data.dataDir)).to.deep.equal(before)
      const plainRun = await cli(['library:restore', plainArchive, '--yes', '--json'], {
        ...data.env,
        VPO_BACKUP_RECIPIENTS_FILE: broken,
      })
      expect(plainRun.code, plainRun.stdout + plainRun.stderr).to.equal(0)
    })
  })

  describe('library:prune without an identity', () => {
    it('keeps the newest backup when it is encrypted, and prunes encrypted regular backups like others', async function () {
      if (!keys) this.skip()
      const library = makeDataDir({files: 300, walFiles: 0})
      const dir = makeTempDir('vpo-prune')
      const enc = ['--encrypt-to', keys.age.recipient]
      const made: BackupJson[] = []
      for (const args of [enc, [], enc]) {
        made.push(await encryptedBackup(library, args, {}, dir))
        await new Promise((resolve) => setTimeout(resolve, 1100))
      }

      const result = await cli(['library:prune', '--path', dir, '--keep-last', '1', '--json'], library.env)
      expect(result.code, result.stdout + result.stderr).to.equal(0)
      const json = parseJson(result) as unknown as PruneJson
      expect(json.kept.map((entry) => entry.path)).to.deep.equal([made[2].path])
      expect([...json.removed].sort()).to.deep.equal([made[0].path, made[1].path].sort())
      expect(fs.readdirSync(dir)).to.deep.equal([path.basename(made[2].path)])
    })
  })

  describe('the listing decrypts only the first chunk and the last two', () => {
    it('lists a large archive corrupted in its middle as readable, and verify fails it; corrupted at its end, as damaged', async function () {
      if (!keys) this.skip()
      const big = makeDataDir({files: 20_000, walFiles: 0})
      const dir = makeTempDir('vpo-big')
      const made = await encryptedBackup(big, ['--encrypt-to', keys.age.recipient], {}, dir)
      const sealed = fs.readFileSync(made.path)
      expect(sealed.length, 'large enough to corrupt past 128 KiB').to.be.above(256 * 1024)
      flipByte(made.path, 200 * 1024, made.path)

      const listing = await cli(
        ['library:backups', '--path', dir, '--json', '--identity', keys.age.identityFile],
        big.env,
      )
      expect(listing.code, listing.stderr).to.equal(0)
      const [entry] = (parseJson(listing) as unknown as BackupsJson).backups
      expect(entry).to.include({
        readable: true,
        encrypted: true,
        file_count: made.file_count,
        created_at: made.created_at,
      })

      const verify = await cli(['library:verify', made.path, '--json', '--identity', keys.age.identityFile], big.env)
      expect(verify.code, verify.stdout + verify.stderr).to.equal(3)
      expect((parseJson(verify) as unknown as VerifyJson).backups[0].ok).to.equal(false)

      // The last chunks are authenticated by the listing itself: damage there is found at once.
      flipByte(made.path, sealed.length - 1000, made.path)
      const again = await cli(
        ['library:backups', '--path', dir, '--json', '--identity', keys.age.identityFile],
        big.env,
      )
      expect((parseJson(again) as unknown as BackupsJson).backups[0]).to.include({readable: false, whole: false})
    })
  })

  describe('to object storage (s3://)', () => {
    let server: S3Server | undefined

    before(async function () {
      if (!keys) this.skip()
      server = await startS3Server(['vpo-encrypted'])
    })

    after(async () => {
      await server?.stop()
    })

    it('backs up encrypted to s3, lists with the identity, restores from the URL', async () => {
      const library = makeDataDir({files: 800, walFiles: 10})
      const env = {...server!.env, TMPDIR: makeTempDir('vpo-tmp')}
      const url = 's3://vpo-encrypted/host/'
      const made = await encryptedBackup(library, ['--encrypt-to', keys.age.recipient], env, url)
      expect(made.path.startsWith(url)).to.equal(true)
      expect(made.path).to.match(/\.tar\.gz\.age$/)

      const locked = await cli(['library:backups', '--path', url, '--json'], {...library.env, ...env})
      expect(locked.code, locked.stderr).to.equal(0)
      expect((parseJson(locked) as unknown as BackupsJson).backups[0]).to.include({encrypted: true, locked: true})

      const listing = await cli(['library:backups', '--path', url, '--json', '--identity', keys.age.identityFile], {
        ...library.env,
        ...env,
      })
      expect(listing.code, listing.stderr).to.equal(0)
      expect((parseJson(listing) as unknown as BackupsJson).backups[0]).to.include({
        path: made.path,
        readable: true,
        encrypted: true,
        file_count: made.file_count,
      })

      const data = target()
      const restore = await cli(
        ['library:restore', made.path, '--yes', '--no-safety-backup', '--json', '--identity', keys.age.identityFile],
        {...data.env, ...env},
      )
      expect(restore.code, restore.stdout + restore.stderr).to.equal(0)
      expect(libraryContent(data.databasePath).digest).to.equal(libraryContent(library.databasePath).digest)
    })
  })
})
