/**
 * The length-prefixed SSH wire encoding (RFC 4251) and OpenSSH's private key container
 * (openssh-key-v1, PROTOCOL.key). Parsing only: every cryptographic operation is elsewhere.
 */
export class SshWireReader {
  private offset = 0

  constructor(private readonly data: Buffer) {}

  get done(): boolean {
    return this.offset === this.data.length
  }

  bytes(length: number): Buffer {
    if (this.offset + length > this.data.length) throw new Error('truncated SSH key')
    const out = this.data.subarray(this.offset, this.offset + length)
    this.offset += length
    return out
  }

  uint32(): number {
    return this.bytes(4).readUInt32BE(0)
  }

  string(): Buffer {
    return this.bytes(this.uint32())
  }

  text(): string {
    return this.string().toString('latin1')
  }

  /** An mpint without its sign-padding zero byte, as JWK wants it. */
  unsignedInt(): Buffer {
    const raw = this.string()
    let start = 0
    while (start < raw.length - 1 && raw[start] === 0) start++
    return raw.subarray(start)
  }
}

export function wireString(value: Buffer | string): Buffer {
  const body = typeof value === 'string' ? Buffer.from(value, 'latin1') : value
  const length = Buffer.alloc(4)
  length.writeUInt32BE(body.length)
  return Buffer.concat([length, body])
}

/** An unsigned big-endian integer as an SSH mpint (a leading zero keeps it positive). */
export function wireMpint(value: Buffer): Buffer {
  let start = 0
  while (start < value.length && value[start] === 0) start++
  const trimmed = value.subarray(start)
  return wireString(trimmed.length > 0 && trimmed[0] >= 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed)
}

export interface OpenSshPrivateKey {
  /** The public key blob, as in `~/.ssh/id_*.pub` after base64 decoding. */
  publicBlob: Buffer
  /** The private section after the two check integers: key type, then the type's fields. */
  fields: SshWireReader
  type: string
}

const OPENSSH_MAGIC = Buffer.from('openssh-key-v1\0', 'latin1')

export class EncryptedSshKeyError extends Error {}

export function parseOpenSshPrivateKey(pem: string): OpenSshPrivateKey {
  const base64 = pem
    .replace('-----BEGIN OPENSSH PRIVATE KEY-----', '')
    .replace('-----END OPENSSH PRIVATE KEY-----', '')
    .replaceAll(/\s+/g, '')
  const data = Buffer.from(base64, 'base64')
  if (!data.subarray(0, OPENSSH_MAGIC.length).equals(OPENSSH_MAGIC)) throw new Error('not an OpenSSH private key')
  const outer = new SshWireReader(data.subarray(OPENSSH_MAGIC.length))
  const cipher = outer.text()
  const kdf = outer.text()
  outer.string()
  if (cipher !== 'none' || kdf !== 'none') throw new EncryptedSshKeyError('the SSH key is protected by a passphrase')
  if (outer.uint32() !== 1) throw new Error('only single-key OpenSSH files are supported')
  const publicBlob = outer.string()
  const fields = new SshWireReader(outer.string())
  // Two equal random integers: OpenSSH's check that decryption (none here) worked.
  const check = fields.uint32()
  if (fields.uint32() !== check) throw new Error('corrupt OpenSSH private key')
  const type = fields.text()
  return {publicBlob, fields, type}
}
