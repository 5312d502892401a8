import fsp from 'node:fs/promises'

import type {ArchiveBytes} from '../archive/source.js'

import {LibraryBackupError} from '../errors.js'
import {removeTemp, tempPathIn} from '../fs/temp-files.js'
import {DownloadFile} from './download-file.js'
import {readObject, type ReadRequest} from './s3-download.js'

/** A read waiting for the download to reach `end`. */
interface Waiter {
  end: number
  resolve: () => void
  reject: (error: Error) => void
}

/**
 * An object downloading into a scratch file that can be read while it arrives: a restore inflates
 * the members already on disk while the rest is still on the network, instead of waiting for the
 * whole file first. A read waits until its bytes are in the file, or rejects with the download's
 * error; finish() resolves only once the download is complete and passed readObject's own checks
 * (every promised byte, no more). A download that starts over (the object changed, or the store
 * ignored a resume's Range) after bytes were readable fails: what was read belongs to another
 * attempt. A resume at the same offset, pinned to the same ETag, continues the same bytes.
 */
export class StreamedDownload {
  private size_: number | undefined
  private written = 0
  private failure: Error | undefined
  private waiters: Waiter[] = []
  private readonly controller = new AbortController()
  private readonly sink: DownloadFile
  private readonly completion: Promise<void>
  private readonly started: Promise<void>
  private readonly url: string
  private readonly stop = (): void => this.controller.abort()
  private queue: Promise<void> = Promise.resolve()

  private constructor(
    request: ReadRequest,
    readonly path: string,
    private readonly handle: fsp.FileHandle,
  ) {
    this.url = request.context.url
    const sink = new DownloadFile(handle)
    this.sink = sink
    let begun!: () => void
    this.started = new Promise((resolve) => {
      begun = resolve
    })
    // The bucket's abort (Ctrl-C) stops this download, and so does dispose(), which stops no other.
    const {stop} = this
    if (request.signal.aborted) stop()
    request.signal.addEventListener('abort', stop, {once: true})
    const {signal} = this.controller
    this.completion = (async () => {
      await readObject(
        {...request, signal},
        {begin: (total) => this.begin(total, begun), write: (chunk, offset) => this.write(chunk, offset)},
      )
      await this.serially(() => sink.flush())
    })()
    this.completion.then(
      () => request.signal.removeEventListener('abort', stop),
      (error: Error) => {
        request.signal.removeEventListener('abort', stop)
        this.fail(error)
      },
    )
  }

  /** Starts the download into a scratch file in `dir` (0600); resolves once the store answered with the object's size. */
  static async start(request: ReadRequest, dir: string): Promise<StreamedDownload> {
    const file = tempPathIn(dir, 'download')
    const handle = await fsp.open(file, 'wx+', 0o600)
    const download = new StreamedDownload(request, file, handle)
    try {
      await Promise.race([download.started, download.completion])
      return download
    } catch (error) {
      await download.dispose()
      throw error
    }
  }

  /** The object's length, as the store declared it before sending a byte. */
  get size(): number {
    return this.size_ ?? 0
  }

  /** A view to read from; each open() is independent, all share the one download. */
  async open(): Promise<ArchiveBytes> {
    return {
      size: this.size,
      read: (buffer, offset, length, position) => this.read(buffer, offset, length, position),
      finish: () => this.whole(),
      async close() {},
    }
  }

  /** The first `bytes` bytes (fewer when the object is shorter), once they are on disk. */
  async head(bytes: number): Promise<Buffer> {
    const buffer = Buffer.alloc(Math.min(bytes, this.size))
    const {bytesRead} = await this.read(buffer, 0, buffer.length, 0)
    return buffer.subarray(0, bytesRead)
  }

  /** Resolves once every byte is on disk and the download passed its checks; rejects with its error. */
  whole(): Promise<void> {
    return this.completion
  }

  /**
   * Stops the download if it is still running, and removes the scratch file. Its name goes first,
   * while the handle still holds it open: giving back the blocks of a 33 MB file costs some 20 ms,
   * which then happens as the handle closes, on the threadpool, while the command finishes.
   */
  async dispose(): Promise<void> {
    this.controller.abort()
    await this.completion.catch(() => {})
    removeTemp(this.path)
    this.handle.close().catch(() => {})
  }

  private async read(buffer: Buffer, offset: number, length: number, position: number): Promise<{bytesRead: number}> {
    const end = Math.min(position + length, this.size)
    if (end <= position) return {bytesRead: 0}
    await this.until(end)
    return this.handle.read(buffer, offset, end - position, position)
  }

  private until(end: number): Promise<void> {
    if (this.failure) return Promise.reject(this.failure)
    if (end <= this.written) return Promise.resolve()
    const waiting = new Promise<void>((resolve, reject) => {
      this.waiters.push({end, resolve, reject})
    })
    // Bytes that arrived just before the download paused (a cut connection, a slow store) are
    // written now rather than when the next piece comes.
    if (end <= this.sink.receivedEnd) this.serially(() => this.sink.flush()).catch(() => {})
    return waiting
  }

  private begin(total: number | undefined, begun: () => void): void {
    if (this.size_ !== undefined && (this.written > 0 || total !== this.size_)) {
      throw new LibraryBackupError(
        'STORAGE_ERROR',
        `${this.url} changed while it was being downloaded, so the restore stopped`,
        {hint: 'Try again once nothing is writing to that name.'},
      )
    }

    this.size_ = total ?? 0
    begun()
  }

  private write(chunk: Buffer, offset: number): Promise<void> {
    return this.serially(async () => {
      await this.sink.write(chunk, offset)
      // A read waiting for bytes that are all here gets them now, not at the next 1 MiB write:
      // about one early write per gzip member, and none while the reads keep behind the download.
      const received = this.sink.receivedEnd
      if (this.waiters.some((waiter) => waiter.end <= received)) await this.sink.flush()
    })
  }

  /**
   * Runs one step on the file after the one before it (DownloadFile takes one call at a time),
   * then wakes the reads it served. A failed step fails every later one: the next write, or the
   * last flush, hands the error to the download.
   */
  private serially(step: () => Promise<void>): Promise<void> {
    this.queue = this.queue.then(async () => {
      await step()
      this.advance()
    })
    return this.queue
  }

  /** Wakes the reads whose bytes the file now holds. */
  private advance(): void {
    this.written = this.sink.writtenEnd
    const waiting = this.waiters
    this.waiters = []
    for (const waiter of waiting) {
      if (waiter.end <= this.written) waiter.resolve()
      else this.waiters.push(waiter)
    }
  }

  private fail(error: Error): void {
    this.failure ??= error
    const waiting = this.waiters
    this.waiters = []
    for (const waiter of waiting) waiter.reject(this.failure)
  }
}
