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

/**
 * Why a chunk of `sealedLength` bytes at `counter` cannot be, or undefined. A chunk holds at least
 * its tag, and only an empty file ends with an empty chunk (age-encryption.org/v1, "Payload").
 */
function shapeProblem(counter: number, sealedLength: number): string | undefined {
  if (sealedLength > SEALED_CHUNK_SIZE) return 'a chunk is longer than a chunk can be'
  if (sealedLength < TAG_SIZE && counter === 0) return 'the encrypted payload is truncated'
  if (sealedLength < TAG_SIZE || (sealedLength === TAG_SIZE && counter > 0))
    return 'the encrypted payload has a truncated or extra last chunk'
  return undefined
}

/**
 * Where a chunk sits: the payload ends right after it (`end`), more follows (`more`), or nobody
 * knows (`unknown`: a prefix of the file that stops exactly after this chunk).
 */
export type ChunkPosition = 'end' | 'more' | 'unknown'

/**
 * Opens chunk `counter` of a payload, whole file or prefix alike: the one place that decides which
 * chunk is the final one, so a final chunk with data after it (two final chunks, trailing bytes),
 * an empty final chunk after a full one, or a payload that stops without its final chunk is
 * refused the same way whichever path reads it. Returns the plaintext and whether it was final.
 */
export function openPayloadChunk(
  key: Buffer,
  counter: number,
  sealed: Uint8Array,
  position: ChunkPosition,
): {last: boolean; plain: Buffer} {
  const problem = shapeProblem(counter, sealed.length)
  if (problem) throw new ChunkAuthError(problem)
  // Only the final chunk may be short.
  if (sealed.length < SEALED_CHUNK_SIZE || position === 'end') {
    try {
      return {last: true, plain: openChunk(key, counter, true, sealed)}
    } catch (error) {
      // A full chunk that opens as a middle one: the payload stops before its final chunk.
      if (sealed.length === SEALED_CHUNK_SIZE && opensAsMiddle(key, counter, sealed)) throw endsEarly()
      throw error
    }
  }

  if (position === 'more') return {last: false, plain: openChunk(key, counter, false, sealed)}
  try {
    return {last: false, plain: openChunk(key, counter, false, sealed)}
  } catch {
    return {last: true, plain: openChunk(key, counter, true, sealed)}
  }
}

function opensAsMiddle(key: Buffer, counter: number, sealed: Uint8Array): boolean {
  try {
    openChunk(key, counter, false, sealed)
    return true
  } catch {
    return false
  }
}

/** A payload (or the prefix read of one) that stops right after a middle chunk. */
export function endsEarly(): ChunkAuthError {
  return new ChunkAuthError('the encrypted payload ends without its final chunk')
}

/** How many sealed chunks a payload of `payloadSize` bytes holds; throws when no valid file has that size. */
export function chunkCount(payloadSize: number): number {
  const count = Math.max(1, Math.ceil(payloadSize / SEALED_CHUNK_SIZE))
  const problem = shapeProblem(count - 1, payloadSize - (count - 1) * SEALED_CHUNK_SIZE)
  if (problem) throw new ChunkAuthError(problem)
  return count
}
