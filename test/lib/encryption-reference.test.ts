/**
 * Our header and payload against age-encryption, the reference TypeScript implementation, in
 * process: no `age` binary needed, and stanza shapes the tool's keys never make (a body that is
 * an exact multiple of 48 bytes needs an empty last line) are covered too.
 */
import {Decrypter, Encrypter, Stanza} from 'age-encryption'
import {expect} from 'chai'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

import {decryptFile, encryptFile, loadIdentities, parseRecipients} from '../../src/lib/encryption/index.js'
import {encodeHeader, parseHeader} from '../../src/lib/encryption/stanza.js'
import {type LocalKey, makeLocalKey, payloadOffset} from '../helpers/age-files.js'
import {writePattern} from '../helpers/age.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

describe('age encryption: against the reference implementation (age-encryption)', () => {
  let dir: string
  let key: LocalKey

  before(async () => {
    dir = makeTempDir('vpo-age-ref')
    key = await makeLocalKey(dir, 'key.txt')
  })

  after(() => cleanupTempDirs())

  for (const size of [0, 65_536, 65_537, 300_000]) {
    it(`${size} bytes: ours opens with age-encryption, and the other way round`, async () => {
      const plainPath = path.join(dir, `p-${size}`)
      const plain = writePattern(plainPath, size, size + 3)
      await encryptFile(plainPath, `${plainPath}.age`, parseRecipients([key.recipient]))
      const decrypter = new Decrypter()
      decrypter.addIdentity(key.secret)
      expect(Buffer.from(await decrypter.decrypt(fs.readFileSync(`${plainPath}.age`))).equals(plain)).to.equal(true)

      const encrypter = new Encrypter()
      encrypter.addRecipient(key.recipient)
      fs.writeFileSync(`${plainPath}.ref.age`, await encrypter.encrypt(plain))
      await decryptFile(`${plainPath}.ref.age`, `${plainPath}.ref`, await loadIdentities([key.identityFile]))
      expect(fs.readFileSync(`${plainPath}.ref`).equals(plain)).to.equal(true)
    })
  }

  it('stanzas of other types and 48-byte-multiple bodies round-trip through both parsers', async () => {
    const unknown = crypto.randomBytes(96)
    const encrypter = new Encrypter()
    encrypter.addRecipient({wrapFileKey: () => [new Stanza(['vpo-test', 'arg'], unknown)]})
    encrypter.addRecipient(key.recipient)
    const file = path.join(dir, 'extra-stanza.age')
    fs.writeFileSync(file, await encrypter.encrypt('hello'))
    const header = parseHeader(fs.readFileSync(file).subarray(0, payloadOffset(fs.readFileSync(file)) - 16))
    expect(header.stanzas[0].args).to.deep.equal(['vpo-test', 'arg'])
    expect(header.stanzas[0].body.equals(unknown)).to.equal(true)
    await decryptFile(file, `${file}.out`, await loadIdentities([key.identityFile]))
    expect(fs.readFileSync(`${file}.out`, 'utf8')).to.equal('hello')
    // Our encoder: the same stanza comes back from our parser, with the empty closing line age wants.
    const encoded = encodeHeader([{args: ['vpo-test', 'arg'], body: unknown}], crypto.randomBytes(32))
    expect(encoded.toString('latin1')).to.match(/\n\n---/)
    expect(parseHeader(encoded).stanzas[0].body.equals(unknown)).to.equal(true)
  })

  it('a header line that is not canonical base64 is refused, as age refuses it', async () => {
    const plainPath = path.join(dir, 'canon')
    writePattern(plainPath, 10)
    await encryptFile(plainPath, `${plainPath}.age`, parseRecipients([key.recipient]))
    const text = fs.readFileSync(`${plainPath}.age`).toString('latin1')
    const macStart = text.indexOf('\n--- ') + 5
    // The MAC's last character carries 2 unused bits: setting them is a non-canonical encoding.
    const macEnd = text.indexOf('\n', macStart)
    const last = text[macEnd - 1]
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
    const altered = alphabet[alphabet.indexOf(last) ^ 1]
    const bytes = Buffer.from(text.slice(0, macEnd - 1) + altered + text.slice(macEnd), 'latin1')
    expect(() => parseHeader(bytes.subarray(0, macEnd + 1))).to.throw()
  })
})
