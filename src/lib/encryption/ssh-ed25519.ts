/**
 * age's ssh-ed25519 recipient type (age-encryption.org/v1, as in age's agessh package): the
 * Ed25519 key is converted to X25519 and tweaked with the SSH key, so a stanza can't be replayed
 * against the plain X25519 form of the same key. Only the Edwards-to-Montgomery conversion needs
 * `@noble/curves`, loaded on first use so X25519-only users never pay its ~50 ms import.
 */
import {base64nopad} from '@scure/base'
import crypto from 'node:crypto'

import {assertUsableEd25519} from './recipient-checks.js'
import {SshWireReader} from './ssh-wire.js'
import {type Identity, type Recipient, type Stanza} from './stanza.js'
import {openFileKey, sealFileKey, x25519, x25519PrivateKey, x25519PublicBytes} from './x25519.js'

const LABEL = 'age-encryption.org/v1/ssh-ed25519'

/** The first four bytes of the key blob's SHA-256: lets an identity skip stanzas not meant for it. */
export function sshTag(publicBlob: Buffer): string {
  return base64nopad.encode(crypto.createHash('sha256').update(publicBlob).digest().subarray(0, 4))
}

async function toMontgomery(edwardsPublic: Buffer): Promise<Buffer> {
  const {ed25519} = await import('@noble/curves/ed25519.js')
  return Buffer.from(ed25519.utils.toMontgomery(edwardsPublic))
}

function hkdf(secret: Uint8Array, salt: Uint8Array): Buffer {
  return Buffer.from(crypto.hkdfSync('sha256', secret, salt, LABEL, 32))
}

function wrappingKey(publicBlob: Buffer, shared: Buffer, share: Buffer, recipientX: Buffer): Buffer {
  const tweak = x25519PrivateKey(hkdf(new Uint8Array(0), publicBlob))
  return hkdf(x25519(tweak, shared), Buffer.concat([share, recipientX]))
}

function ed25519PublicKey(publicBlob: Buffer): Buffer {
  const reader = new SshWireReader(publicBlob)
  if (reader.text() !== 'ssh-ed25519') throw new Error('not an ssh-ed25519 key')
  const key = reader.string()
  if (key.length !== 32 || !reader.done) throw new Error('malformed ssh-ed25519 key')
  return key
}

export class SshEd25519Recipient implements Recipient {
  private readonly edwards: Buffer

  constructor(private readonly publicBlob: Buffer) {
    this.edwards = ed25519PublicKey(publicBlob)
    assertUsableEd25519(this.edwards)
  }

  async wrapFileKey(fileKey: Buffer): Promise<Stanza[]> {
    const recipientX = await toMontgomery(this.edwards)
    const ephemeral = crypto.generateKeyPairSync('x25519').privateKey
    const share = x25519PublicBytes(ephemeral)
    const key = wrappingKey(this.publicBlob, x25519(ephemeral, recipientX), share, recipientX)
    return [
      {args: ['ssh-ed25519', sshTag(this.publicBlob), base64nopad.encode(share)], body: sealFileKey(key, fileKey)},
    ]
  }
}

export class SshEd25519Identity implements Identity {
  private readonly edwards: Buffer
  /** The X25519 scalar is the first half of SHA-512(seed), as Ed25519 itself derives it. */
  private readonly secretX: crypto.KeyObject
  private readonly tag: string

  /** `seed` is the 32-byte Ed25519 private seed (OpenSSH stores it followed by the public key). */
  constructor(
    private readonly publicBlob: Buffer,
    seed: Uint8Array,
  ) {
    this.edwards = ed25519PublicKey(publicBlob)
    this.secretX = x25519PrivateKey(crypto.createHash('sha512').update(seed).digest().subarray(0, 32))
    this.tag = sshTag(publicBlob)
  }

  async unwrapFileKey(stanzas: Stanza[]): Promise<Buffer | null> {
    for (const stanza of stanzas) {
      if (stanza.args[0] !== 'ssh-ed25519' || stanza.args[1] !== this.tag) continue
      // From here on the stanza is ours, so damage is an error rather than "not for me".
      if (stanza.args.length !== 3) throw new Error('malformed ssh-ed25519 stanza')
      const share = Buffer.from(base64nopad.decode(stanza.args[2]))
      if (share.length !== 32 || stanza.body.length !== 32) throw new Error('malformed ssh-ed25519 stanza')
      const recipientX = await toMontgomery(this.edwards)
      const fileKey = openFileKey(
        wrappingKey(this.publicBlob, x25519(this.secretX, share), share, recipientX),
        stanza.body,
      )
      if (!fileKey) throw new Error('ssh-ed25519 stanza failed authentication')
      return fileKey
    }

    return null
  }
}
