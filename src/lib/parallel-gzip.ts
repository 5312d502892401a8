import type {FileHandle} from 'node:fs/promises'

import os from 'node:os'
import {promisify} from 'node:util'
import zlib from 'node:zlib'

const gzip = promisify(zlib.gzip)

/**
 * Writes a multi-member gzip file: the input is cut into chunks and each chunk becomes its own gzip
 * member, compressed on libuv's threadpool so every core works at once. RFC 1952 allows any
 * number of members; gzip, GNU tar, Python's gzip/tarfile and Node's zlib all read them as one
 * stream. Members are written strictly in order, at explicit file positions.
 */
export class ParallelGzipWriter {
  private readonly concurrency: number
  private readonly level: number
  private inFlight: Array<Promise<void>> = []
  private writeChain: Promise<void> = Promise.resolve()
  private position: number

  constructor(
    private readonly file: FileHandle,
    options: {concurrency?: number; level?: number; position?: number} = {},
  ) {
    this.concurrency = options.concurrency ?? os.availableParallelism() * 2
    this.level = options.level ?? 6
    this.position = options.position ?? 0
  }

  /**
   * Compresses `data` as the next member. The caller picks the member size (a few MiB keeps the
   * ratio within a fraction of a percent of one big member) and must not reuse the buffer.
   * Resolves once there is room for another member in flight.
   */
  async addMember(data: Buffer): Promise<void> {
    // Bound memory: wait for the oldest member before starting another beyond the limit.
    while (this.inFlight.length >= this.concurrency) await this.inFlight.shift()
    const compressed = gzip(data, {level: this.level})
    const written = (this.writeChain = this.writeChain.then(async () => {
      const member = await compressed
      await writeFully(this.file, member, this.position)
      this.position += member.length
    }))
    // Failures surface through writeChain; these handlers only keep Node's rejection tracker quiet.
    compressed.catch(() => {})
    written.catch(() => {})
    this.inFlight.push(written)
  }

  /** Waits for every member to be on disk; returns the offset just past the last one. */
  async finish(): Promise<number> {
    await Promise.all(this.inFlight)
    await this.writeChain
    return this.position
  }
}

export async function writeFully(file: FileHandle, data: Buffer, position: number): Promise<void> {
  let offset = 0
  while (offset < data.length) {
    const {bytesWritten} = await file.write(data, offset, data.length - offset, position + offset)
    offset += bytesWritten
  }
}
