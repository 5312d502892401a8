import {generateX25519Identity} from 'age-encryption'
/**
 * The official age test vectors (C2SP testkit, npm `cctv-age`) through our own decryption, every
 * one of them: a whole-file decrypt (as restore and verify do), the head of the file, and the head
 * of a buffer holding the file (as the listing decrypts a ranged read). What age supports and we
 * do too (X25519, the STREAM payload, stanzas, headers, MACs) must give the vector's result; what
 * we do not (passphrases, ASCII armor, post-quantum keys) must be refused in a sentence that says
 * so. Whatever failed, no plaintext is left behind.
 */
import {expect} from 'chai'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

import {decryptFile, decryptHead, IdentitySet, loadIdentities} from '../../src/lib/encryption/index.js'
import {LibraryBackupError} from '../../src/lib/errors.js'
import {type TestVector, testVectors} from '../helpers/age-testkit.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

type Outcome = {code: string; message: string; ok: false} | {ok: true; plain: Buffer}

const ALL = Number.MAX_SAFE_INTEGER
const vectors = testVectors()
const sha256 = (data: Buffer) => crypto.createHash('sha256').update(data).digest('hex')
const postQuantum = (vector: TestVector) => vector.identities.some((key) => key.startsWith('AGE-SECRET-KEY-PQ-'))

async function outcome(work: () => Promise<Buffer>): Promise<Outcome> {
  try {
    return {ok: true, plain: await work()}
  } catch (error) {
    // Anything but our own error (a TypeError, an OpenSSL message…) is a crash, not a refusal.
    expect(error, String((error as Error).stack)).to.be.instanceOf(LibraryBackupError)
    const {code, message} = error as LibraryBackupError
    expect(message, 'one line, no stack').to.not.match(/\n|\bat .*:\d+:\d+/)
    return {code, message, ok: false}
  }
}

function describeOutcome(result: Outcome): string {
  return result.ok ? `success, ${result.plain.length} bytes` : `${result.code}: ${result.message}`
}

describe('age: the C2SP testkit vectors (cctv-age)', () => {
  let dir: string
  let outsider: string
  const keyFiles = new Map<string, string>()
  let case_ = 0

  before(async () => {
    dir = makeTempDir('vpo-age-testkit')
    outsider = await generateX25519Identity()
  })

  after(() => cleanupTempDirs())

  function identityFile(secret: string): string {
    let file = keyFiles.get(secret)
    if (!file) {
      file = path.join(dir, `identity-${keyFiles.size}.txt`)
      fs.writeFileSync(file, `${secret}\n`, {mode: 0o600})
      keyFiles.set(secret, file)
    }

    return file
  }

  /** The three ways we decrypt, each from its own copy of the file. */
  async function decryptThreeWays(vector: TestVector, identities: IdentitySet) {
    const input = path.join(dir, `${vector.name}-${++case_}.age`)
    const output = `${input}.plain`
    fs.writeFileSync(input, vector.file)
    const whole = await outcome(async () => {
      await decryptFile(input, output, identities)
      return fs.readFileSync(output)
    })
    const leftBehind = !whole.ok && fs.existsSync(output)
    const fileHead = await outcome(() => decryptHead(input, identities, ALL))
    const bufferHead = await outcome(() => decryptHead(vector.file, identities, ALL, input))
    return {whole, fileHead, bufferHead, leftBehind, input}
  }

  it('the package holds the X25519, STREAM, stanza, header, MAC and refusal families', () => {
    expect(vectors.length).to.be.at.least(140)
    for (const prefix of ['x25519', 'stream_', 'stanza_', 'header_', 'hmac_', 'scrypt', 'armor_', 'hybrid']) {
      expect(vectors.filter((vector) => vector.name.startsWith(prefix)).length, prefix).to.be.greaterThan(0)
    }
  })

  describe('X25519, STREAM, stanzas, headers and MACs: the expected result', () => {
    for (const vector of vectors.filter((v) => !v.armored && v.passphrases.length === 0 && !postQuantum(v))) {
      it(`${vector.name}: ${vector.expect}`, async () => {
        const identities = await loadIdentities(vector.identities.map((secret) => identityFile(secret)))
        const {whole, fileHead, bufferHead, leftBehind, input} = await decryptThreeWays(vector, identities)
        const results = {decryptFile: whole, 'decryptHead(path)': fileHead, 'decryptHead(buffer)': bufferHead}
        const summary = Object.entries(results)
          .map(([way, result]) => `${way}: ${describeOutcome(result)}`)
          .join('\n')
        if (vector.expect === 'success') {
          for (const result of Object.values(results)) {
            expect(result.ok, summary).to.equal(true)
            if (result.ok) expect(sha256(result.plain), summary).to.equal(vector.payload)
          }

          // The listing's default: the first 64 KiB chunk, nothing more.
          const first = await decryptHead(vector.file, identities)
          expect(first.equals((whole as {plain: Buffer}).plain.subarray(0, 65_536))).to.equal(true)
          return
        }

        // The same refusal, word for word, whichever way the file is read.
        for (const result of Object.values(results)) expect(result.ok, summary).to.equal(false)
        const failures = Object.values(results) as Array<Extract<Outcome, {ok: false}>>
        expect(new Set(failures.map((failure) => `${failure.code}: ${failure.message}`)).size, summary).to.equal(1)
        const [{code, message}] = failures
        expect(leftBehind, 'plaintext of a failed decrypt left on disk').to.equal(false)
        expect(message, summary).to.include(input)
        switch (vector.expect) {
          case 'no match': {
            expect(code, summary).to.equal('KEY_ERROR')
            expect(message).to.match(/None of the given identities can open/)
            break
          }

          case 'HMAC failure': {
            expect(code, summary).to.equal('INVALID_ARCHIVE')
            expect(message).to.match(/header failed authentication/)
            break
          }

          case 'header failure': {
            expect(code, summary).to.equal('INVALID_ARCHIVE')
            expect(message).to.match(/encryption header|not an age-encrypted file/)
            break
          }

          case 'payload failure': {
            expect(code, summary).to.equal('INVALID_ARCHIVE')
            expect(message).to.match(/altered or truncated/)
            break
          }

          default: {
            expect.fail(`unexpected expectation ${vector.expect}`)
          }
        }
      })
    }
  })

  describe('passphrase, armor and post-quantum files: a clear refusal, never a crash', () => {
    for (const vector of vectors.filter((v) => v.armored || v.passphrases.length > 0)) {
      it(`${vector.name} (${vector.armored ? 'armored' : 'passphrase'}, ${vector.expect})`, async () => {
        // A passphrase is never a key we take; the vector's X25519 keys, if any, are offered.
        const identities = await loadIdentities(
          vector.identities.filter((key) => !key.startsWith('AGE-SECRET-KEY-PQ-')).map((key) => identityFile(key)),
        )
        const {whole, fileHead, bufferHead, leftBehind} = await decryptThreeWays(vector, identities)
        for (const result of [whole, fileHead, bufferHead]) {
          expect(result.ok, describeOutcome(result)).to.equal(false)
          if (result.ok) continue
          // A well-formed file of a kind we don't open is named as such.
          if (vector.expect === 'success') {
            expect(result.code, result.message).to.equal('UNSUPPORTED_ARCHIVE')
            expect(result.message).to.match(vector.armored ? /ASCII-armored age file/ : /encrypted with a passphrase/)
          } else {
            // `-> Scrypt` is no passphrase stanza but an unknown type: with no key given, KEY_ERROR.
            const codes = [
              'UNSUPPORTED_ARCHIVE',
              'INVALID_ARCHIVE',
              ...(vector.expect === 'no match' ? ['KEY_ERROR'] : []),
            ]
            expect(result.code, result.message).to.be.oneOf(codes)
          }
        }

        expect(leftBehind).to.equal(false)
      })
    }

    for (const vector of vectors.filter((v) => !v.armored && postQuantum(v))) {
      it(`${vector.name} (post-quantum, ${vector.expect})`, async () => {
        for (const key of vector.identities.filter((secret) => secret.startsWith('AGE-SECRET-KEY-PQ-'))) {
          const error = await loadIdentities([identityFile(key)]).catch((error_: unknown) => error_)
          expect(error).to.be.instanceOf(LibraryBackupError)
          expect((error as LibraryBackupError).code).to.equal('KEY_ERROR')
          expect((error as Error).message, (error as Error).message).to.match(/post-quantum key .*do not support yet/)
        }

        // With the X25519 keys that can be had (the vector's, or someone else's), the file is refused.
        const x25519 = vector.identities.filter((key) => !key.startsWith('AGE-SECRET-KEY-PQ-'))
        const identities = await loadIdentities((x25519.length > 0 ? x25519 : [outsider]).map((k) => identityFile(k)))
        const {whole, fileHead, bufferHead, leftBehind} = await decryptThreeWays(vector, identities)
        for (const result of [whole, fileHead, bufferHead]) {
          expect(result.ok, describeOutcome(result)).to.equal(false)
          if (result.ok) continue
          // Damage in what we do parse is named as damage; `-> MLKEM768X25519` is an unknown type.
          if (vector.expect === 'header failure' && result.code === 'INVALID_ARCHIVE') continue
          if (vector.expect === 'no match' && result.code === 'KEY_ERROR') continue
          expect(result.code, result.message).to.equal('UNSUPPORTED_ARCHIVE')
          expect(result.message).to.match(/post-quantum .*do not support yet/)
        }

        expect(leftBehind).to.equal(false)
      })
    }
  })
})
