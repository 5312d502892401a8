import {Encrypter} from 'age-encryption'
/**
 * Any altered, missing or extra byte of an encrypted backup is INVALID_ARCHIVE and leaves no
 * plaintext behind; a missing or wrong key is KEY_ERROR; only the first chunk is read for a head.
 */
import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'

import {
  decryptFile,
  decryptHead,
  encryptFile,
  IdentitySet,
  loadIdentities,
  parseRecipients,
} from '../../src/lib/encryption/index.js'
import {SEALED_CHUNK_SIZE} from '../../src/lib/encryption/stream.js'
import {expectCode, flipped, type LocalKey, makeLocalKey, payloadOffset} from '../helpers/age-files.js'
import {missingTools, runOk, writePattern} from '../helpers/age.js'
import {skipSaying} from '../helpers/skips.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

describe('age encryption: damage and keys', () => {
  let dir: string
  let key: LocalKey
  let other: LocalKey
  let plain: Buffer
  let sealed: Buffer
  let offset: number
  let attempt = 0

  before(async () => {
    dir = makeTempDir('vpo-age-tamper')
    key = await makeLocalKey(dir, 'key.txt')
    other = await makeLocalKey(dir, 'other.txt')
    // Four chunks, the last one short: first, middle and last are all distinct cases.
    plain = writePattern(path.join(dir, 'plain'), 3 * 65_536 + 1000)
    await encryptFile(path.join(dir, 'plain'), path.join(dir, 'plain.age'), parseRecipients([key.recipient]))
    sealed = fs.readFileSync(path.join(dir, 'plain.age'))
    offset = payloadOffset(sealed)
    expect(sealed.length - offset).to.equal(3 * SEALED_CHUNK_SIZE + 1000 + 16)
  })

  after(() => cleanupTempDirs())

  async function decryptBytes(bytes: Buffer, identities?: IdentitySet): Promise<Buffer> {
    attempt++
    const input = path.join(dir, `case-${attempt}.age`)
    const output = path.join(dir, `case-${attempt}.out`)
    fs.writeFileSync(input, bytes)
    try {
      await decryptFile(input, output, identities ?? (await loadIdentities([key.identityFile])))
      return fs.readFileSync(output)
    } finally {
      expect(
        fs.existsSync(output) ? fs.readFileSync(output).equals(plain) : true,
        'partial plaintext left behind',
      ).to.equal(true)
    }
  }

  it('decrypts the untouched file', async () => {
    expect((await decryptBytes(sealed)).equals(plain)).to.equal(true)
  })

  const flips: Array<[string, (size: number, offset: number) => number]> = [
    ['the version line', () => 3],
    ['the header MAC', (_size, payload) => payload - 16 - 5],
    ['the payload nonce', (_size, payload) => payload - 3],
    ['the first chunk', (_size, payload) => payload + 10],
    ['the first chunk tag', (_size, payload) => payload + SEALED_CHUNK_SIZE - 1],
    ['a middle chunk', (_size, payload) => payload + SEALED_CHUNK_SIZE + 40_000],
    ['the last chunk', (_size, payload) => payload + 3 * SEALED_CHUNK_SIZE + 500],
    ['the last byte', (size) => size - 1],
  ]
  for (const [where, position] of flips) {
    it(`a flipped bit in ${where} is INVALID_ARCHIVE and leaves no output`, async () => {
      await expectCode(decryptBytes(flipped(sealed, position(sealed.length, offset))), 'INVALID_ARCHIVE')
    })
  }

  it('an altered X25519 stanza body is KEY_ERROR: age stanzas are anonymous, damage looks like another key', async () => {
    // Swap the body's first base64 character for another valid one, so the header still parses.
    const body = sealed.indexOf('\n', sealed.indexOf('-> X25519 ')) + 1
    const altered = Buffer.from(sealed)
    altered[body] = altered[body] === 0x41 ? 0x42 : 0x41
    await expectCode(decryptBytes(altered), 'KEY_ERROR')
  })

  it('an X25519 stanza argument that is not base64 is INVALID_ARCHIVE', async () => {
    const altered = Buffer.from(sealed)
    altered[sealed.indexOf('-> X25519 ') + 12] = 0x2a // '*'
    await expectCode(decryptBytes(altered), 'INVALID_ARCHIVE')
  })

  for (const chunks of [0, 1, 2, 3]) {
    it(`truncation after ${chunks} whole chunks is INVALID_ARCHIVE`, async () => {
      await expectCode(decryptBytes(sealed.subarray(0, offset + chunks * SEALED_CHUNK_SIZE)), 'INVALID_ARCHIVE')
    })
  }

  const cuts: Array<[string, (size: number, offset: number) => number]> = [
    ['inside the header', () => 40],
    ['right after the header, before the nonce', (_size, payload) => payload - 16],
    ['one byte short', (size) => size - 1],
  ]
  for (const [where, cut] of cuts) {
    it(`truncation ${where} is INVALID_ARCHIVE`, async () => {
      await expectCode(decryptBytes(sealed.subarray(0, cut(sealed.length, offset))), 'INVALID_ARCHIVE')
    })
  }

  for (const extra of [1, 16, 17, SEALED_CHUNK_SIZE]) {
    it(`${extra} appended bytes are INVALID_ARCHIVE`, async () => {
      await expectCode(
        decryptBytes(Buffer.concat([sealed, sealed.subarray(offset, offset + extra)])),
        'INVALID_ARCHIVE',
      )
    })
  }

  it('a wrong identity is KEY_ERROR naming --identity and VPO_BACKUP_IDENTITY_FILE', async () => {
    const error = await expectCode(decryptBytes(sealed, await loadIdentities([other.identityFile])), 'KEY_ERROR')
    expect(error.exitCode).to.equal(10)
    expect(error.sentence).to.include('--identity FILE').and.include('VPO_BACKUP_IDENTITY_FILE')
  })

  it('no identity is KEY_ERROR', async () => {
    const error = await expectCode(decryptBytes(sealed, new IdentitySet([])), 'KEY_ERROR')
    expect(error.sentence).to.include('no identity was given')
  })

  it('the right key among wrong ones opens the file', async () => {
    expect(
      (await decryptBytes(sealed, await loadIdentities([other.identityFile, key.identityFile]))).equals(plain),
    ).to.equal(true)
  })

  it('decryptHead reads only the first chunk: later chunks damaged or missing do not matter', async () => {
    const identities = await loadIdentities([key.identityFile])
    const damaged = flipped(flipped(sealed, offset + SEALED_CHUNK_SIZE + 5), sealed.length - 3)
    const file = path.join(dir, 'damaged-later.age')
    fs.writeFileSync(file, damaged)
    expect((await decryptHead(file, identities)).equals(plain.subarray(0, 65_536))).to.equal(true)
    // A prefix one byte short of the second chunk: the first chunk is all there is.
    const prefix = damaged.subarray(0, offset + SEALED_CHUNK_SIZE + 1)
    expect((await decryptHead(prefix, identities, 1000)).equals(plain.subarray(0, 1000))).to.equal(true)
    await expectCode(decryptHead(flipped(sealed, offset + 7), identities), 'INVALID_ARCHIVE')
    await expectCode(decryptHead(prefix, identities, 70_000), 'INVALID_ARCHIVE')
  })

  it('a single-chunk file of exactly 64 KiB opens from a prefix too (its only chunk is the last)', async () => {
    writePattern(path.join(dir, 'one-chunk'), 65_536, 9)
    await encryptFile(path.join(dir, 'one-chunk'), path.join(dir, 'one-chunk.age'), parseRecipients([key.recipient]))
    const whole = fs.readFileSync(path.join(dir, 'one-chunk.age'))
    const head = await decryptHead(whole, await loadIdentities([key.identityFile]))
    expect(head.equals(fs.readFileSync(path.join(dir, 'one-chunk')))).to.equal(true)
  })

  it('a passphrase-encrypted file is refused, saying to use age -d', async () => {
    const encrypter = new Encrypter()
    encrypter.setPassphrase('correct horse battery staple')
    encrypter.setScryptWorkFactor(10)
    const error = await expectCode(
      decryptBytes(Buffer.from(await encrypter.encrypt(plain.subarray(0, 100)))),
      'UNSUPPORTED_ARCHIVE',
    )
    expect(error.sentence).to.include('passphrase').and.include('age -d')
  })

  it('an armored age file is refused, saying to use age -d', async function () {
    skipSaying(this, missingTools({age: true}))

    const armored = runOk('age', ['-a', '-r', key.recipient], plain.subarray(0, 100))
    const error = await expectCode(decryptBytes(armored), 'UNSUPPORTED_ARCHIVE')
    expect(error.sentence).to.include('armored').and.include('age -d')
  })

  it('a plain gzip file is INVALID_ARCHIVE', async () => {
    await expectCode(decryptBytes(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0])), 'INVALID_ARCHIVE')
  })
})
