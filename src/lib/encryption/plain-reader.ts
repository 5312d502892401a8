/**
 * Reads an age file's plaintext at any position, decrypting as it goes, so a restore inflates and
 * writes its candidate while the chunks authenticate instead of first writing a decrypted copy and
 * reading it back. Every byte handed out comes from a chunk that has authenticated; finish()
 * authenticates the chunks never read, the last one included, so a caller that acts only after
 * finish() acts on a file that is whole and unaltered.
 */
import fsp, {type FileHandle} from 'node:fs/promises'

import {fromSystemError} from '../errors.js'
import {asInvalid, openFileHeader} from './decrypt.js'
import {inFlight, readAt, settle} from './file-io.js'
import {type IdentitySet} from './identities.js'
import {CHUNK_SIZE, ChunkAuthError, chunkCount, openChunk, SEALED_CHUNK_SIZE, TAG_SIZE} from './stream.js'

/** Chunks decrypted at a time: 2 MiB of plaintext, one read of the sealed file. */
const BATCH = 32

export interface UnlockedFile {
  path: string
  key: Buffer
  payloadOffset: number
}

/** Opens the header once (KEY_ERROR or INVALID_ARCHIVE here, before anything is read or written). */
export async function unlockFile(encryptedPath: string, identities: IdentitySet): Promise<UnlockedFile> {
  const file = await fsp.open(encryptedPath, 'r')
  try {
    const {key, payloadOffset} = await openFileHeader(file, encryptedPath, identities)
    return {path: encryptedPath, key, payloadOffset}
  } catch (error) {
    throw fromSystemError(asInvalid(error, encryptedPath), `decrypting ${encryptedPath}`)
  } finally {
    await file.close()
  }
}

export async function openPlaintext(unlocked: UnlockedFile): Promise<PlaintextReader> {
  const file = await fsp.open(unlocked.path, 'r')
  try {
    const {size} = await file.stat()
    return new PlaintextReader(file, unlocked, chunkCount(size - unlocked.payloadOffset), size)
  } catch (error) {
    await file.close()
    throw fromSystemError(asInvalid(error, unlocked.path), `decrypting ${unlocked.path}`)
  }
}

export class PlaintextReader {
  readonly size: number
  private readonly authenticated: Uint8Array
  private batchFirst = -1
  /** The current batch's sealed bytes, and its chunks decrypted so far (each on first use). */
  private sealed: Buffer = Buffer.alloc(0)
  private batch: Array<Buffer | undefined> = []
  /** The next batch's sealed bytes, read on the threadpool while this one is consumed. */
  private ahead: undefined | {first: number; sealed: Promise<Buffer>}
  /**
   * Two sealed-batch buffers used in turn (one being decrypted, one being read ahead into):
   * fresh 2 MiB buffers for each batch cost more in page faults than the decryption itself.
   */
  private readonly sealedBuffers: Buffer[] = []
  private turn = 0

  constructor(
    private readonly file: FileHandle,
    private readonly unlocked: UnlockedFile,
    private readonly chunks: number,
    fileSize: number,
  ) {
    this.size = fileSize - unlocked.payloadOffset - chunks * TAG_SIZE
    this.authenticated = new Uint8Array(chunks)
  }

  async read(buffer: Buffer, offset: number, length: number, position: number): Promise<{bytesRead: number}> {
    return this.guard(async () => {
      let done = 0
      while (done < length && position + done < this.size) {
        const at = position + done
        const chunk = Math.floor(at / CHUNK_SIZE)
        const first = chunk - (chunk % BATCH)
        if (first !== this.batchFirst) await this.load(first)
        const plain = this.plainChunk(chunk)
        const start = at - chunk * CHUNK_SIZE
        const copied = plain.copy(buffer, offset + done, start, start + Math.min(length - done, plain.length - start))
        if (copied === 0) throw new ChunkAuthError('the payload ends before its chunks say')
        done += copied
      }

      return {bytesRead: done}
    })
  }

  async finish(): Promise<void> {
    await this.guard(async () => {
      for (let first = 0; first < this.chunks; first += BATCH) {
        const end = Math.min(this.chunks, first + BATCH)
        if (!this.authenticated.subarray(first, end).includes(0)) continue
        if (first !== this.batchFirst) await this.load(first)
        for (let index = first; index < end; index++) if (!this.authenticated[index]) this.plainChunk(index)
      }
    })
  }

  async close(): Promise<void> {
    await settle(this.ahead?.sealed)
    await this.file.close()
  }

  private async guard<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work()
    } catch (error) {
      throw fromSystemError(asInvalid(error, this.unlocked.path), `decrypting ${this.unlocked.path}`)
    }
  }

  /** Chunk `index` of the current batch, decrypted (and authenticated) the first time it is asked for. */
  private plainChunk(index: number): Buffer {
    const slot = index - this.batchFirst
    const known = this.batch[slot]
    if (known) return known
    const at = slot * SEALED_CHUNK_SIZE
    const last = index === this.chunks - 1
    const plain = openChunk(this.unlocked.key, index, last, this.sealed.subarray(at, at + SEALED_CHUNK_SIZE))
    this.authenticated[index] = 1
    this.batch[slot] = plain
    return plain
  }

  private async load(first: number): Promise<void> {
    let sealed: Buffer
    if (this.ahead?.first === first) {
      sealed = await this.ahead.sealed
    } else {
      // A read ahead of another batch may still be filling one of the two buffers.
      await settle(this.ahead?.sealed)
      this.ahead = undefined
      sealed = await this.readSealed(first)
    }

    const next = first + BATCH
    // Read ahead once the file is being read through: a head read (the metadata) needs one batch.
    const readingOn = this.batchFirst !== -1
    this.ahead = readingOn && next < this.chunks ? {first: next, sealed: inFlight(this.readSealed(next))} : undefined
    this.sealed = sealed
    this.batch = []
    this.batchFirst = first
  }

  /** Into the buffer not in use: the other one holds the current batch, or a settled read. */
  private readSealed(first: number): Promise<Buffer> {
    // Allocated on first use, no larger than the file needs (a small archive is one short batch).
    this.sealedBuffers[this.turn] ??= Buffer.allocUnsafe(Math.min(BATCH, this.chunks) * SEALED_CHUNK_SIZE)
    const into = this.sealedBuffers[this.turn]
    this.turn = 1 - this.turn
    const position = this.unlocked.payloadOffset + first * SEALED_CHUNK_SIZE
    return readAt(this.file, position, Math.min(BATCH, this.chunks - first) * SEALED_CHUNK_SIZE, into)
  }
}
