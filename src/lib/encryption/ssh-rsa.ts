/**
 * age's ssh-rsa recipient type (age-encryption.org/v1, as in age's agessh package), which
 * age-encryption does not ship: RSA-OAEP-SHA-256 of the file key, labelled, done by Node's OpenSSL.
 */
import crypto from 'node:crypto'

import {UnusableKey} from './recipient-checks.js'
import {sshTag} from './ssh-ed25519.js'
import {SshWireReader, wireMpint, wireString} from './ssh-wire.js'
import {type Identity, type Recipient, type Stanza} from './stanza.js'

const OAEP_LABEL = Buffer.from('age-encryption.org/v1/ssh-rsa')
const MIN_BITS = 2048

function oaep(key: crypto.KeyObject): crypto.RsaPublicKey | crypto.RsaPrivateKey {
  return {key, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: OAEP_LABEL}
}

function b64url(value: Buffer): string {
  return value.toString('base64url')
}

export class SshRsaRecipient implements Recipient {
  private readonly key: crypto.KeyObject

  constructor(private readonly publicBlob: Buffer) {
    const reader = new SshWireReader(publicBlob)
    if (reader.text() !== 'ssh-rsa') throw new Error('not an ssh-rsa key')
    const e = reader.unsignedInt()
    const n = reader.unsignedInt()
    if (!reader.done) throw new Error('malformed ssh-rsa key')
    // OpenSSL would encrypt to an even modulus or exponent; no real RSA key has one.
    if (
      n.length === 0 ||
      e.length === 0 ||
      n.at(-1)! % 2 === 0 ||
      e.at(-1)! % 2 === 0 ||
      (e.length === 1 && e[0] === 1)
    )
      throw new UnusableKey('its modulus or exponent is not one of an RSA key')
    this.key = crypto.createPublicKey({key: {kty: 'RSA', n: b64url(n), e: b64url(e)}, format: 'jwk'})
    // age refuses keys below 2048 bits; so do we, so that `age -d` never has to.
    if ((this.key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_BITS)
      throw new UnusableKey('it is shorter than 2048 bits, which age refuses')
  }

  wrapFileKey(fileKey: Buffer): Stanza[] {
    const body = crypto.publicEncrypt(oaep(this.key), fileKey)
    return [{args: ['ssh-rsa', sshTag(this.publicBlob)], body}]
  }
}

export class SshRsaIdentity implements Identity {
  private readonly tag: string

  constructor(
    publicBlob: Buffer,
    private readonly key: crypto.KeyObject,
  ) {
    this.tag = sshTag(publicBlob)
  }

  unwrapFileKey(stanzas: Stanza[]): Buffer | null {
    for (const stanza of stanzas) {
      if (stanza.args[0] !== 'ssh-rsa' || stanza.args[1] !== this.tag) continue
      if (stanza.args.length !== 2) throw new Error('malformed ssh-rsa stanza')
      try {
        return crypto.privateDecrypt(oaep(this.key), stanza.body)
      } catch {
        throw new Error('ssh-rsa stanza failed to decrypt')
      }
    }

    return null
  }
}

/** From OpenSSH's private fields (n, e, d, iqmp, p, q) to a Node key and the public blob. */
export function rsaIdentityFromOpenSsh(fields: SshWireReader): SshRsaIdentity {
  const n = fields.unsignedInt()
  const e = fields.unsignedInt()
  const d = fields.unsignedInt()
  const qi = fields.unsignedInt()
  const p = fields.unsignedInt()
  const q = fields.unsignedInt()
  const big = (value: Buffer): bigint => BigInt('0x' + (value.toString('hex') || '0'))
  const toBuffer = (value: bigint): Buffer => {
    const hex = value.toString(16)
    return Buffer.from(hex.length % 2 === 0 ? hex : '0' + hex, 'hex')
  }

  const dp = toBuffer(big(d) % (big(p) - 1n))
  const dq = toBuffer(big(d) % (big(q) - 1n))
  const jwk = {
    kty: 'RSA',
    n: b64url(n),
    e: b64url(e),
    d: b64url(d),
    p: b64url(p),
    q: b64url(q),
    dp: b64url(dp),
    dq: b64url(dq),
    qi: b64url(qi),
  }
  const key = crypto.createPrivateKey({key: jwk, format: 'jwk'})
  return new SshRsaIdentity(Buffer.concat([wireString('ssh-rsa'), wireMpint(e), wireMpint(n)]), key)
}

/** A PEM RSA key (`-----BEGIN RSA PRIVATE KEY-----`, older ssh-keygen) read by Node. */
export function rsaIdentityFromPem(pem: string): SshRsaIdentity {
  const key = crypto.createPrivateKey({key: pem, format: 'pem'})
  const jwk = key.export({format: 'jwk'})
  if (jwk.kty !== 'RSA' || !jwk.n || !jwk.e) throw new Error('not an RSA key')
  const blob = Buffer.concat([
    wireString('ssh-rsa'),
    wireMpint(Buffer.from(jwk.e, 'base64url')),
    wireMpint(Buffer.from(jwk.n, 'base64url')),
  ])
  return new SshRsaIdentity(blob, key)
}
