/**
 * Encrypts a finished plain archive into an age file, in bounded memory: the plain archive is
 * complete (its metadata patched in place) before a byte of ciphertext is written.
 */
import fsp, {type FileHandle} from 'node:fs/promises'

import {fromSystemError, LibraryBackupError} from '../errors.js'
import {plainLengthStanza} from './ends.js'
import {inFlight, readAt, settle, writeAll, writevAll} from './file-io.js'
import {sealHeader} from './header.js'
import {type AgeRecipient} from './recipients.js'
import {CHUNK_SIZE, sealChunk} from './stream.js'

/** Chunks read per disk read: big reads, memory still a few MiB. */
const CHUNKS_PER_READ = 32

export interface EncryptResult {
  plainSizeBytes: number
  encryptedSizeBytes: number
}

/**
 * Writes `encryptedPath` (created exclusively, mode 0600, fsynced) from `plainPath`. On failure the
 * partial output is removed.
 */
export async function encryptFile(
  plainPath: string,
  encryptedPath: string,
  recipients: readonly AgeRecipient[],
): Promise<EncryptResult> {
  let input: FileHandle | undefined
  let output: FileHandle | undefined
  // As in decryptFile: one read ahead and one write behind on the threadpool while this thread seals.
  let reading: Promise<Buffer> | undefined
  let writing: Promise<number> | undefined
  try {
    input = await fsp.open(plainPath, 'r')
    const plainSize = (await input.stat()).size
    // The plain length, recorded in the header, lets a listing catch a cut or extended file with no key.
    const {prefix, key} = await sealHeader(recipients, [plainLengthStanza(plainSize)])
    output = await fsp.open(encryptedPath, 'wx', 0o600)
    await writeAll(output, prefix)
    let written = prefix.length
    // An empty plain file is still one (empty, last) chunk.
    const chunks = Math.max(1, Math.ceil(plainSize / CHUNK_SIZE))
    const buffers = [Buffer.alloc(CHUNK_SIZE * CHUNKS_PER_READ), Buffer.alloc(CHUNK_SIZE * CHUNKS_PER_READ)]
    const readBatch = async (first: number): Promise<Buffer> => {
      const position = first * CHUNK_SIZE
      const expected = Math.min(CHUNKS_PER_READ * CHUNK_SIZE, plainSize - position)
      const plain = await readAt(input!, position, expected, buffers[(first / CHUNKS_PER_READ) % 2])
      if (plain.length !== expected)
        throw new LibraryBackupError('IO_ERROR', `${plainPath} shrank while it was being encrypted`, {
          hint: 'Try again.',
        })
      return plain
    }

    reading = inFlight(readBatch(0))
    for (let first = 0; first < chunks; first += CHUNKS_PER_READ) {
      const plain = await reading!
      reading = first + CHUNKS_PER_READ < chunks ? inFlight(readBatch(first + CHUNKS_PER_READ)) : undefined
      const sealed: Buffer[] = []
      for (let index = first; index < Math.min(chunks, first + CHUNKS_PER_READ); index++) {
        const offset = (index - first) * CHUNK_SIZE
        sealed.push(...sealChunk(key, index, index === chunks - 1, plain.subarray(offset, offset + CHUNK_SIZE)))
      }

      if (writing) await writing
      writing = inFlight(writevAll(output, sealed, written))
      written += sealed.reduce((sum, part) => sum + part.length, 0)
    }

    await writing
    await output.sync()
    return {plainSizeBytes: plainSize, encryptedSizeBytes: written}
  } catch (error) {
    await settle(reading, writing)
    if (output) await fsp.rm(encryptedPath, {force: true})
    throw fromSystemError(error, `encrypting ${plainPath}`)
  } finally {
    await input?.close()
    await output?.close()
  }
}
