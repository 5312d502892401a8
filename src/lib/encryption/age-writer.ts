/**
 * Writes an age file while the plain archive is being produced, so a backup makes one pass over
 * its bytes instead of two (write the plain archive, then read it back to encrypt it).
 *
 * It takes the positional writes the archive writer makes (`write`/`writev` at a position, as on
 * a FileHandle): appends at the end, plus patches anywhere in the first 64 KiB, where the
 * metadata member is filled in last. That works because STREAM chunks are independent: chunk 0
 * stays in memory and is sealed at `finish()`, every later chunk is sealed once it is full and
 * more bytes follow it (the last chunk is flagged, so it can only be sealed at the end).
 */
import fsp, {type FileHandle} from 'node:fs/promises'

import {fromSystemError} from '../errors.js'
import {writeAll, writevAll} from './file-io.js'
import {sealHeader} from './header.js'
import {type Recipient} from './stanza.js'
import {CHUNK_SIZE, sealChunk, SEALED_CHUNK_SIZE} from './stream.js'

/** Sealed chunks gathered per disk write. */
const FLUSH_BYTES = 1024 * 1024

export class AgeFileWriter {
  private readonly first = Buffer.alloc(CHUNK_SIZE)
  private readonly current = Buffer.alloc(CHUNK_SIZE)
  /** Index of the chunk held in `current` (0: `first` is current). */
  private currentIndex = 0
  /** Plaintext length so far. */
  private end = 0
  private pending: Buffer[] = []
  /** The next chunk to go to disk; chunk 0 goes last, at `finish()`. */
  private nextOnDisk = 1
  private pendingBytes = 0
  private pendingChunks = 0
  private finished = false

  private constructor(
    private readonly file: FileHandle,
    private readonly path: string,
    private readonly key: Buffer,
    private readonly payloadOffset: number,
  ) {}

  /** Creates `encryptedPath` exclusively with mode 0600 and writes the header. */
  static async create(encryptedPath: string, recipients: readonly Recipient[]): Promise<AgeFileWriter> {
    const {key, prefix} = await sealHeader(recipients)
    const file = await fsp.open(encryptedPath, 'wx', 0o600)
    try {
      await writeAll(file, prefix)
    } catch (error) {
      await file.close()
      await fsp.rm(encryptedPath, {force: true})
      throw fromSystemError(error, `writing ${encryptedPath}`)
    }

    return new AgeFileWriter(file, encryptedPath, key, prefix.length)
  }

  /** FileHandle.write's positional form. */
  async write(data: Uint8Array, offset = 0, length = data.length - offset, position = this.end): Promise<{bytesWritten: number}> {
    await this.put(data.subarray(offset, offset + length), position)
    return {bytesWritten: length}
  }

  /** FileHandle.writev's positional form. */
  async writev(buffers: readonly Uint8Array[], position = this.end): Promise<{bytesWritten: number}> {
    let at = position
    for (const buffer of buffers) {
      await this.put(buffer, at)
      at += buffer.length
    }

    return {bytesWritten: at - position}
  }

  /** The archive writer's final fsync: seals what is left, then syncs. */
  async sync(): Promise<void> {
    await this.finish()
  }

  /** Seals chunk 0 and the last chunk, writes them and fsyncs. Returns the encrypted size. */
  async finish(): Promise<number> {
    if (!this.finished) {
      this.finished = true
      const chunks = Math.max(1, Math.ceil(this.end / CHUNK_SIZE))
      if (chunks > 1) this.queue(sealChunk(this.key, chunks - 1, true, this.current.subarray(0, this.end - (chunks - 1) * CHUNK_SIZE)))
      await this.flush()
      await writevAll(this.file, sealChunk(this.key, 0, chunks === 1, this.first.subarray(0, Math.min(this.end, CHUNK_SIZE))), this.payloadOffset)

      await this.file.sync()
    }

    return (await this.file.stat()).size
  }

  async close(): Promise<void> {
    await this.file.close()
  }

  /** Closes and removes a file that will not be finished. */
  async abandon(): Promise<void> {
    await this.file.close().catch(() => {})
    await fsp.rm(this.path, {force: true})
  }

  private async put(data: Uint8Array, position: number): Promise<void> {
    if (this.finished) throw new Error('write after finish; this is a bug')
    if (position + data.length <= CHUNK_SIZE) {
      this.first.set(data, position)
      this.end = Math.max(this.end, position + data.length)
      return
    }

    if (position < this.end) {
      // Only chunk 0 can be rewritten: the others may already be sealed and on disk.
      if (position < CHUNK_SIZE && this.end <= CHUNK_SIZE) {
        const head = CHUNK_SIZE - position
        await this.put(data.subarray(0, head), position)
        return this.put(data.subarray(head), CHUNK_SIZE)
      }

      throw new Error(`rewrite at ${position} outside the first chunk; this is a bug`)
    }

    // Appending (a gap reads as zeros, like a sparse file).
    let at = position
    let rest = data
    while (rest.length > 0) {
      const index = Math.floor(at / CHUNK_SIZE)
      if (index > this.currentIndex) await this.advanceTo(index)
      const within = at - index * CHUNK_SIZE
      const take = Math.min(rest.length, CHUNK_SIZE - within)
      const target = index === 0 ? this.first : this.current
      target.set(rest.subarray(0, take), within)
      at += take
      rest = rest.subarray(take)
      this.end = Math.max(this.end, at)
    }
  }

  /** Seals every full chunk before `index`: more bytes follow them, so none is the last. */
  private async advanceTo(index: number): Promise<void> {
    while (this.currentIndex < index) {
      if (this.currentIndex > 0) this.queue(sealChunk(this.key, this.currentIndex, false, this.current))
      this.currentIndex++
      this.current.fill(0)
    }

    if (this.pendingBytes >= FLUSH_BYTES) await this.flush()
  }

  private queue(sealed: Buffer[]): void {
    this.pending.push(...sealed)
    this.pendingBytes += sealed[0].length + sealed[1].length
    this.pendingChunks++
  }

  /** Writes queued chunks, which are always the ones right after what is already on disk. */
  private async flush(): Promise<void> {
    if (this.pending.length === 0) return
    await writevAll(this.file, this.pending, this.payloadOffset + this.nextOnDisk * SEALED_CHUNK_SIZE)
    this.nextOnDisk += this.pendingChunks
    this.pending = []
    this.pendingBytes = 0
    this.pendingChunks = 0
  }
}
