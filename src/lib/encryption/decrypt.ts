/**
 * Decrypts age files chunk by chunk. Every chunk is authenticated before its plaintext is written,
 * and a failed file leaves no plaintext behind.
 */
import fsp, {type FileHandle} from 'node:fs/promises'

import {fromSystemError, invalidArchive} from '../errors.js'
import {inFlight, readAt, settle, writevAll} from './file-io.js'
import {HEADER_MAX, type OpenedHeader, openHeader} from './header.js'
import {type IdentitySet} from './identities.js'
import {CHUNK_SIZE, ChunkAuthError, chunkCount, endsEarly, openPayloadChunk, SEALED_CHUNK_SIZE} from './stream.js'

const CHUNKS_PER_READ = 32
/** Enough for any header we make (a few hundred bytes per recipient) and the nonce. */
const FIRST_READ = 64 * 1024

export async function openFileHeader(
  file: FileHandle,
  archivePath: string,
  identities: IdentitySet,
): Promise<OpenedHeader> {
  let head = await readAt(file, 0, FIRST_READ)
  // Only a header with many RSA recipients outgrows the first read.
  if (head.length === FIRST_READ && !head.includes('\n---', 0, 'latin1'))
    head = await readAt(file, 0, HEADER_MAX + FIRST_READ)
  return openHeader(head, identities, archivePath)
}

export function asInvalid(error: unknown, archivePath: string): unknown {
  return error instanceof ChunkAuthError
    ? invalidArchive(archivePath, `it was altered or truncated (${error.message})`)
    : error
}

/**
 * Writes the plaintext of `encryptedPath` to `plainPath` (created exclusively, mode 0600, not
 * fsynced: it is scratch). Any altered, missing or extra byte is INVALID_ARCHIVE.
 */
export async function decryptFile(
  encryptedPath: string,
  plainPath: string,
  identities: IdentitySet,
): Promise<{plainSizeBytes: number}> {
  let input: FileHandle | undefined
  let output: FileHandle | undefined
  // Reads and writes run on libuv's threadpool while the main thread decrypts the batch between
  // them: one read ahead, one write behind, two read buffers taking turns.
  let reading: Promise<Buffer> | undefined
  let writing: Promise<number> | undefined
  try {
    input = await fsp.open(encryptedPath, 'r')
    const {size} = await input.stat()
    const {key, payloadOffset} = await openFileHeader(input, encryptedPath, identities)
    const chunks = chunkCount(size - payloadOffset)
    output = await fsp.open(plainPath, 'wx', 0o600)
    const buffers = [
      Buffer.alloc(SEALED_CHUNK_SIZE * CHUNKS_PER_READ),
      Buffer.alloc(SEALED_CHUNK_SIZE * CHUNKS_PER_READ),
    ]
    const readBatch = (first: number): Promise<Buffer> => {
      const position = payloadOffset + first * SEALED_CHUNK_SIZE
      const length = Math.min(CHUNKS_PER_READ * SEALED_CHUNK_SIZE, size - position)
      return readAt(input!, position, length, buffers[(first / CHUNKS_PER_READ) % 2])
    }

    let plainSize = 0
    reading = inFlight(readBatch(0))
    for (let first = 0; first < chunks; first += CHUNKS_PER_READ) {
      const sealed = await reading!
      reading = first + CHUNKS_PER_READ < chunks ? inFlight(readBatch(first + CHUNKS_PER_READ)) : undefined
      const plain: Buffer[] = []
      for (let index = first; index < Math.min(chunks, first + CHUNKS_PER_READ); index++) {
        const offset = (index - first) * SEALED_CHUNK_SIZE
        const chunk = sealed.subarray(offset, offset + SEALED_CHUNK_SIZE)
        plain.push(openPayloadChunk(key, index, chunk, index === chunks - 1 ? 'end' : 'more').plain)
      }

      if (writing) await writing
      writing = inFlight(writevAll(output, plain, plainSize))
      plainSize += plain.reduce((sum, part) => sum + part.length, 0)
    }

    await writing
    return {plainSizeBytes: plainSize}
  } catch (error) {
    await settle(reading, writing)
    if (output) await fsp.rm(plainPath, {force: true})
    throw fromSystemError(asInvalid(error, encryptedPath), `decrypting ${encryptedPath}`)
  } finally {
    await input?.close()
    await output?.close()
  }
}

/** The first `bytes` of plaintext from the chunks of a file whose total size is known. */
async function headOfFile(archivePath: string, identities: IdentitySet, bytes: number): Promise<Buffer> {
  const file = await fsp.open(archivePath, 'r')
  try {
    const {size} = await file.stat()
    const {key, payloadOffset} = await openFileHeader(file, archivePath, identities)
    const lastChunk = chunkCount(size - payloadOffset) - 1
    const chunks = Math.min(lastChunk + 1, Math.max(1, Math.ceil(bytes / CHUNK_SIZE)))
    const sealed = await readAt(file, payloadOffset, chunks * SEALED_CHUNK_SIZE)
    const plain: Buffer[] = []
    for (let index = 0; index < chunks; index++) {
      const chunk = sealed.subarray(index * SEALED_CHUNK_SIZE, (index + 1) * SEALED_CHUNK_SIZE)
      plain.push(openPayloadChunk(key, index, chunk, index === lastChunk ? 'end' : 'more').plain)
    }

    return Buffer.concat(plain).subarray(0, bytes)
  } finally {
    await file.close()
  }
}

/**
 * The first `bytes` of plaintext from a prefix of an age file (e.g. a ranged GET), whose total
 * size is unknown: a chunk with bytes after it in the prefix is a middle one, a short one is the
 * last, and a full one that ends the prefix may be either, as age tries it.
 */
async function headOfPrefix(prefix: Buffer, label: string, identities: IdentitySet, bytes: number): Promise<Buffer> {
  const {key, payloadOffset} = await openHeader(prefix, identities, label)
  const wanted = Math.max(1, Math.ceil(bytes / CHUNK_SIZE))
  // A prefix that ends among the chunks asked for is taken as the whole file, and checked as one.
  if (prefix.length - payloadOffset <= wanted * SEALED_CHUNK_SIZE) chunkCount(prefix.length - payloadOffset)
  const plain: Buffer[] = []
  for (let index = 0; index < wanted; index++) {
    const start = payloadOffset + index * SEALED_CHUNK_SIZE
    // The chunk before was a middle one, so a final chunk should follow.
    if (index > 0 && start >= prefix.length) throw endsEarly()
    const sealed = prefix.subarray(start, start + SEALED_CHUNK_SIZE)
    const position =
      sealed.length < SEALED_CHUNK_SIZE ? 'end' : start + SEALED_CHUNK_SIZE < prefix.length ? 'more' : 'unknown'
    const chunk = openPayloadChunk(key, index, sealed, position)
    plain.push(chunk.plain)
    if (chunk.last) break
  }

  return Buffer.concat(plain).subarray(0, bytes)
}

/**
 * Decrypts only the header and the chunks holding the first `bytes` of plaintext (default one
 * 64 KiB chunk: enough for the archive's metadata member). `source` is a path, or a Buffer holding
 * the start of the file; `label` names a Buffer source in messages.
 */
export async function decryptHead(
  source: Buffer | string,
  identities: IdentitySet,
  bytes = CHUNK_SIZE,
  label = 'the encrypted backup',
): Promise<Buffer> {
  const name = typeof source === 'string' ? source : label
  try {
    return typeof source === 'string'
      ? await headOfFile(source, identities, bytes)
      : await headOfPrefix(source, label, identities, bytes)
  } catch (error) {
    throw fromSystemError(asInvalid(error, name), `decrypting ${name}`)
  }
}
