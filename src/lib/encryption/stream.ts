/**
 * The age payload (age-encryption.org/v1, "Payload"): STREAM over ChaCha20-Poly1305 in 64 KiB
 * chunks, done with Node's OpenSSL binding because the pure-JS cipher in age-encryption is ~20x
 * slower and the payload is the only part of a backup big enough for speed to matter.
 */
import crypto from 'node:crypto'

export const CHUNK_SIZE = 64 * 1024
export const TAG_SIZE = 16
export const SEALED_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE
export const NONCE_SIZE = 16

export class ChunkAuthError extends Error {}

export function payloadKey(fileKey: Uint8Array, nonce: Uint8Array): Buffer {
  return Buffer.from(crypto.hkdfSync('sha256', fileKey, nonce, 'payload', 32))
}

/** 11-byte big-endian chunk counter, then 1 on the last chunk only. */
function chunkNonce(counter: number, last: boolean): Buffer {
  const nonce = Buffer.alloc(12)
  nonce.writeUIntBE(counter, 5, 6)
  nonce[11] = last ? 1 : 0
  return nonce
}

/** The sealed chunk as [ciphertext, tag]: written with writev, never concatenated (less garbage). */
export function sealChunk(key: Buffer, counter: number, last: boolean, plain: Uint8Array): [Buffer, Buffer] {
  const cipher = crypto.createCipheriv('chacha20-poly1305', key, chunkNonce(counter, last), {authTagLength: TAG_SIZE})
  const body = cipher.update(plain)
  // A stream cipher has nothing left over for final().
  cipher.final()
  return [body, cipher.getAuthTag()]
}

export function openChunk(key: Buffer, counter: number, last: boolean, sealed: Uint8Array): Buffer {
  if (sealed.length < TAG_SIZE || sealed.length > SEALED_CHUNK_SIZE)
    throw new ChunkAuthError('chunk has an impossible size')
  const body = sealed.subarray(0, sealed.length - TAG_SIZE)
  const decipher = crypto.createDecipheriv('chacha20-poly1305', key, chunkNonce(counter, last), {
    authTagLength: TAG_SIZE,
  })
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_SIZE))
  try {
    const plain = decipher.update(body)
    decipher.final()
    return plain
  } catch {
    throw new ChunkAuthError(`chunk ${counter} failed authentication`)
  }
}

/** How many sealed chunks a payload of `payloadSize` bytes holds; throws when no valid file has that size. */
export function chunkCount(payloadSize: number): number {
  if (payloadSize < TAG_SIZE) throw new ChunkAuthError('the encrypted payload is truncated')
  const count = Math.ceil(payloadSize / SEALED_CHUNK_SIZE)
  const lastSize = payloadSize - (count - 1) * SEALED_CHUNK_SIZE
  // Only an empty file may end with an empty chunk; anything else is a truncation or extra bytes.
  if (lastSize < TAG_SIZE || (lastSize === TAG_SIZE && count > 1)) {
    throw new ChunkAuthError('the encrypted payload has a truncated or extra last chunk')
  }

  return count
}
