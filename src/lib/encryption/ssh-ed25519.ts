/**
 * age's ssh-ed25519 recipient type (age-encryption.org/v1, as in age's agessh package), which
 * age-encryption does not ship: the Ed25519 key is converted to X25519 and tweaked with the SSH
 * key so a stanza can't be replayed against the plain X25519 form of the same key.
 */
import {ed25519, x25519} from '@noble/curves/ed25519.js'
import {base64nopad} from '@scure/base'
import {type Identity, type Recipient, Stanza} from 'age-encryption'
import crypto from 'node:crypto'

import {SshWireReader} from './ssh-wire.js'

const LABEL = 'age-encryption.org/v1/ssh-ed25519'
const FILE_KEY_SIZE = 16

/** The first four bytes of the key blob's SHA-256: lets an identity skip stanzas not meant for it. */
export function sshTag(publicBlob: Buffer): string {
  return base64nopad.encode(crypto.createHash('sha256').update(publicBlob).digest().subarray(0, 4))
}

function hkdf(secret: Uint8Array, salt: Uint8Array): Buffer {
  return Buffer.from(crypto.hkdfSync('sha256', secret, salt, LABEL, 32))
}

function wrapKey(publicBlob: Buffer, shared: Uint8Array, ephemeralShare: Uint8Array, recipientX: Uint8Array): Buffer {
  const tweak = hkdf(new Uint8Array(0), publicBlob)
  const tweaked = x25519.scalarMult(tweak, shared)
  return hkdf(tweaked, Buffer.concat([ephemeralShare, recipientX]))
}

function ed25519PublicKey(publicBlob: Buffer): Uint8Array {
  const reader = new SshWireReader(publicBlob)
  if (reader.text() !== 'ssh-ed25519') throw new Error('not an ssh-ed25519 key')
  const key = reader.string()
  if (key.length !== 32 || !reader.done) throw new Error('malformed ssh-ed25519 key')
  return key
}

export class SshEd25519Recipient implements Recipient {
  private readonly recipientX: Uint8Array

  constructor(private readonly publicBlob: Buffer) {
    this.recipientX = ed25519.utils.toMontgomery(ed25519PublicKey(publicBlob))
  }

  wrapFileKey(fileKey: Uint8Array): Stanza[] {
    const ephemeral = crypto.randomBytes(32)
    const share = x25519.scalarMultBase(ephemeral)
    const key = wrapKey(this.publicBlob, x25519.scalarMult(ephemeral, this.recipientX), share, this.recipientX)
    const cipher = crypto.createCipheriv('chacha20-poly1305', key, Buffer.alloc(12), {authTagLength: 16})
    const body = Buffer.concat([cipher.update(fileKey), cipher.final(), cipher.getAuthTag()])
    return [new Stanza(['ssh-ed25519', sshTag(this.publicBlob), base64nopad.encode(share)], body)]
  }
}

export class SshEd25519Identity implements Identity {
  private readonly secretX: Uint8Array
  private readonly recipientX: Uint8Array
  private readonly tag: string

  /** `seed` is the 32-byte Ed25519 private seed (OpenSSH stores it followed by the public key). */
  constructor(
    private readonly publicBlob: Buffer,
    seed: Uint8Array,
  ) {
    this.recipientX = ed25519.utils.toMontgomery(ed25519PublicKey(publicBlob))
    this.secretX = ed25519.utils.toMontgomerySecret(seed)
    this.tag = sshTag(publicBlob)
  }

  unwrapFileKey(stanzas: Stanza[]): null | Uint8Array {
    for (const stanza of stanzas) {
      if (stanza.args[0] !== 'ssh-ed25519' || stanza.args[1] !== this.tag) continue
      // From here on the stanza is ours, so damage is an error rather than "not for me".
      if (stanza.args.length !== 3) throw new Error('malformed ssh-ed25519 stanza')
      const share = base64nopad.decode(stanza.args[2])
      if (share.length !== 32 || stanza.body.length !== FILE_KEY_SIZE + 16) throw new Error('malformed ssh-ed25519 stanza')
      const key = wrapKey(this.publicBlob, x25519.scalarMult(this.secretX, share), share, this.recipientX)
      const decipher = crypto.createDecipheriv('chacha20-poly1305', key, Buffer.alloc(12), {authTagLength: 16})
      decipher.setAuthTag(stanza.body.subarray(FILE_KEY_SIZE))
      try {
        return Buffer.concat([decipher.update(stanza.body.subarray(0, FILE_KEY_SIZE)), decipher.final()])
      } catch {
        throw new Error('ssh-ed25519 stanza failed authentication')
      }
    }

    return null
  }
}
