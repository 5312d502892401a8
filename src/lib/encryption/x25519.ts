/**
 * age's native X25519 recipients and identities (age-encryption.org/v1, "X25519 recipient
 * stanza"), on Node's OpenSSL X25519: no module to load, no warm-up (see AGE-NOTES.md).
 */
import {base64nopad, bech32} from '@scure/base'
import crypto from 'node:crypto'

import {assertUsableX25519} from './recipient-checks.js'
import {type Identity, type Recipient, type Stanza} from './stanza.js'

const LABEL = 'age-encryption.org/v1/X25519'
/** DER wrappings that let Node import raw 32-byte X25519 keys (RFC 8410). */
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex')
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex')

export function x25519PrivateKey(scalar: Uint8Array): crypto.KeyObject {
  return crypto.createPrivateKey({key: Buffer.concat([PKCS8_PREFIX, scalar]), format: 'der', type: 'pkcs8'})
}

export function x25519PublicBytes(key: crypto.KeyObject): Buffer {
  return crypto.createPublicKey(key).export({format: 'der', type: 'spki'}).subarray(SPKI_PREFIX.length)
}

/** Throws on a low-order point (an all-zero secret), as age requires. */
export function x25519(privateKey: crypto.KeyObject, point: Uint8Array): Buffer {
  const publicKey = crypto.createPublicKey({key: Buffer.concat([SPKI_PREFIX, point]), format: 'der', type: 'spki'})
  return crypto.diffieHellman({privateKey, publicKey})
}

/** ChaCha20-Poly1305 with an all-zero nonce: safe because every wrapping key is used once. */
export function sealFileKey(key: Buffer, fileKey: Buffer): Buffer {
  const cipher = crypto.createCipheriv('chacha20-poly1305', key, Buffer.alloc(12), {authTagLength: 16})
  return Buffer.concat([cipher.update(fileKey), cipher.final(), cipher.getAuthTag()])
}

/** The file key, or null when the tag does not verify (the stanza is someone else's). */
export function openFileKey(key: Buffer, body: Buffer): Buffer | null {
  if (body.length !== 32) return null
  const decipher = crypto.createDecipheriv('chacha20-poly1305', key, Buffer.alloc(12), {authTagLength: 16})
  decipher.setAuthTag(body.subarray(16))
  try {
    return Buffer.concat([decipher.update(body.subarray(0, 16)), decipher.final()])
  } catch {
    return null
  }
}

function wrappingKey(shared: Buffer, share: Buffer, recipient: Buffer): Buffer {
  return Buffer.from(crypto.hkdfSync('sha256', shared, Buffer.concat([share, recipient]), LABEL, 32))
}

function decodeBech32(text: string, prefix: string): Buffer {
  const {prefix: found, words} = bech32.decode(text as `${string}1${string}`, 120)
  const bytes = Buffer.from(bech32.fromWords(words))
  if (found.toLowerCase() !== prefix || bytes.length !== 32) throw new Error('wrong key type')
  return bytes
}

export class X25519Recipient implements Recipient {
  private readonly publicKey: Buffer

  /** `age1…`, bech32, lower case. */
  constructor(text: string) {
    if (!text.startsWith('age1')) throw new Error('not an age1 recipient')
    this.publicKey = decodeBech32(text, 'age')
    assertUsableX25519(this.publicKey)
  }

  wrapFileKey(fileKey: Buffer): Stanza[] {
    const ephemeral = crypto.generateKeyPairSync('x25519').privateKey
    const share = x25519PublicBytes(ephemeral)
    const key = wrappingKey(x25519(ephemeral, this.publicKey), share, this.publicKey)
    return [{args: ['X25519', base64nopad.encode(share)], body: sealFileKey(key, fileKey)}]
  }
}

export class X25519Identity implements Identity {
  private readonly privateKey: crypto.KeyObject
  private readonly publicKey: Buffer

  /** `AGE-SECRET-KEY-1…`, bech32, upper case. */
  constructor(text: string) {
    if (!text.startsWith('AGE-SECRET-KEY-1')) throw new Error('not an age secret key')
    this.privateKey = x25519PrivateKey(decodeBech32(text, 'age-secret-key-'))
    this.publicKey = x25519PublicBytes(this.privateKey)
  }

  unwrapFileKey(stanzas: Stanza[]): Buffer | null {
    for (const stanza of stanzas) {
      if (stanza.args[0] !== 'X25519') continue
      if (stanza.args.length !== 2) throw new Error('malformed X25519 stanza')
      const share = Buffer.from(base64nopad.decode(stanza.args[1]))
      if (share.length !== 32 || stanza.body.length !== 32) throw new Error('malformed X25519 stanza')
      const fileKey = openFileKey(wrappingKey(x25519(this.privateKey, share), share, this.publicKey), stanza.body)
      // A tag that fails means another recipient's stanza: age's stanzas don't say whose they are.
      if (fileKey) return fileKey
    }

    return null
  }
}
