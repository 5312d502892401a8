/**
 * Recipients and identities: what is accepted, what is refused and how, and that no key ever
 * shows up in a message, a JSON error or an inspected object.
 */
import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'
import {inspect} from 'node:util'

import {
  decryptFile,
  encryptFile,
  loadIdentities,
  parseRecipients,
  readRecipientsFile,
} from '../../src/lib/encryption/index.js'
import {LibraryBackupError} from '../../src/lib/errors.js'
import {expectCode, type LocalKey, makeLocalKey} from '../helpers/age-files.js'
import {HAS_SSH_KEYGEN, makeSshKey, missingTools, type SshKey, writePattern} from '../helpers/age.js'
import {skipSaying} from '../helpers/skips.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

describe('age encryption: recipients and identities', () => {
  let dir: string
  let key: LocalKey
  let other: LocalKey
  let ed: SshKey | undefined
  const errors: LibraryBackupError[] = []

  async function collect(promise: Promise<unknown>, code: string): Promise<LibraryBackupError> {
    const error = await expectCode(promise, code)
    errors.push(error)
    return error
  }

  before(async () => {
    dir = makeTempDir('vpo-age-keys')
    key = await makeLocalKey(dir, 'key.txt')
    other = await makeLocalKey(dir, 'other.txt')
    if (HAS_SSH_KEYGEN) ed = makeSshKey(dir, 'ed25519')
  })

  after(() => cleanupTempDirs())

  for (const mode of [0o644, 0o640, 0o604]) {
    it(`an identity file with mode ${mode.toString(8)} is refused, saying chmod 600`, async () => {
      const file = path.join(dir, `shared-${mode.toString(8)}.txt`)
      fs.copyFileSync(key.identityFile, file)
      fs.chmodSync(file, mode)
      const error = await collect(loadIdentities([file]), 'KEY_ERROR')
      expect(error.sentence).to.include(`chmod 600 ${file}`)
    })
  }

  it('identity files with mode 0600 and 0400 load; comments and several keys per file are fine', async () => {
    const file = path.join(dir, 'two.txt')
    fs.writeFileSync(file, `# two keys\n\n${other.secret}\n${key.secret}\n`, {mode: 0o400})
    expect((await loadIdentities([file, key.identityFile])).size).to.equal(3)
  })

  it('a missing or malformed identity file is KEY_ERROR, without quoting the file', async () => {
    await collect(loadIdentities([path.join(dir, 'nope.txt')]), 'KEY_ERROR')
    const almost = path.join(dir, 'almost.txt')
    // One character changed: the bech32 checksum fails, and the library's own message quotes the key.
    const damaged = key.secret.slice(0, -3) + (key.secret.at(-3) === 'Q' ? 'P' : 'Q') + key.secret.slice(-2)
    fs.writeFileSync(almost, `${damaged}\n`, {mode: 0o600})
    await collect(loadIdentities([almost]), 'KEY_ERROR')
    const publicOnly = path.join(dir, 'public.txt')
    fs.writeFileSync(publicOnly, `${key.recipient}\n`, {mode: 0o600})
    expect((await collect(loadIdentities([publicOnly]), 'KEY_ERROR')).sentence).to.include('public key')
    const empty = path.join(dir, 'empty.txt')
    fs.writeFileSync(empty, '# nothing\n', {mode: 0o600})
    await collect(loadIdentities([empty]), 'KEY_ERROR')
  })

  it('bad recipients are USAGE_ERROR (exit 2) and are never echoed, secret keys least of all', async () => {
    for (const bad of [
      'nonsense',
      'age1qqqq',
      key.recipient.slice(0, -1) + (key.recipient.endsWith('q') ? 'p' : 'q'),
      'ssh-dss AAAAB3NzaC1kc3M= x',
      'ssh-ed25519 AAAA',
      key.secret,
    ]) {
      const error = await collect(
        Promise.resolve().then(() => parseRecipients([bad])),
        'USAGE_ERROR',
      )
      expect(error.exitCode).to.equal(2)
      expect(error.sentence).not.to.include(bad)
    }

    expect(errors.at(-1)!.sentence).to.include('secret key').and.include('age-keygen -y')
  })

  it('a recipients file: one per line, comments and blank lines ignored; an empty one is refused', async () => {
    const file = path.join(dir, 'recipients.txt')
    fs.writeFileSync(
      file,
      `# the NAS key\n${key.recipient}\n\n  ${other.recipient}  \n${ed ? ed.publicKey + '\n' : ''}`,
    )
    expect(await readRecipientsFile(file)).to.have.length(ed ? 3 : 2)
    fs.writeFileSync(file, '# nobody\n')
    await collect(readRecipientsFile(file), 'USAGE_ERROR')
    fs.writeFileSync(file, `${key.recipient}\nbogus\n`)
    const error = await collect(readRecipientsFile(file), 'USAGE_ERROR')
    expect(error.sentence).to.include(`Line 2 of ${file}`)
  })

  it('a passphrase-protected or too short SSH key is refused with a reason', async function () {
    skipSaying(this, missingTools({ssh: true}))

    const locked = makeSshKey(dir, 'ed25519', 'hunter22')
    const error = await collect(loadIdentities([locked.identityFile]), 'KEY_ERROR')
    expect(error.sentence).to.include('passphrase')
    const shortDir = makeTempDir('vpo-age-short')
    const {runOk} = await import('../helpers/age.js')
    runOk('ssh-keygen', ['-q', '-t', 'rsa', '-b', '1024', '-N', '', '-f', path.join(shortDir, 'id_rsa')])
    await collect(
      Promise.resolve().then(() => parseRecipients([fs.readFileSync(path.join(shortDir, 'id_rsa.pub'), 'utf8')])),
      'USAGE_ERROR',
    )
  })

  it('decryption failures with real keys add to the collection', async () => {
    const plain = path.join(dir, 'p')
    writePattern(plain, 1000)
    await encryptFile(plain, `${plain}.age`, parseRecipients([key.recipient]))
    await collect(decryptFile(`${plain}.age`, `${plain}.out`, await loadIdentities([other.identityFile])), 'KEY_ERROR')
    const bytes = fs.readFileSync(`${plain}.age`)
    bytes[bytes.length - 2] ^= 1
    fs.writeFileSync(`${plain}.bad.age`, bytes)
    await collect(
      decryptFile(`${plain}.bad.age`, `${plain}.out`, await loadIdentities([key.identityFile])),
      'INVALID_ARCHIVE',
    )
  })

  it('no key material appears in any error message, JSON error, inspected error, or inspected identity set', async () => {
    expect(errors.length).to.be.greaterThan(10)
    const identities = await loadIdentities([key.identityFile, ...(ed ? [ed.identityFile] : [])])
    const secrets = [
      key.secret,
      other.secret,
      key.secret.slice(16, 40),
      key.secret.slice(16).toLowerCase(),
      other.secret.slice(16, 40),
    ]
    if (ed) for (let i = 0; i + 24 <= ed.secretBody.length; i += 24) secrets.push(ed.secretBody.slice(i, i + 24))
    const texts = [
      ...errors.flatMap((error) => [error.sentence, JSON.stringify(error), inspect(error, {depth: 5})]),
      inspect(identities, {depth: 10}),
      JSON.stringify(identities),
      String(identities),
    ]
    for (const text of texts)
      for (const secret of secrets) expect(text.includes(secret), `${secret} in ${text}`).to.equal(false)
  })
})
