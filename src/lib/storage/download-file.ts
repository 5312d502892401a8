import fsp, {type FileHandle} from 'node:fs/promises'

import {removeTemp} from '../fs/temp-files.js'
import {type ObjectSink, readObject, type ReadRequest} from './s3-download.js'

/** Network pieces are gathered into writes of this size. */
const WRITE_SIZE = 1024 * 1024

/**
 * A download written into a local file 1 MiB at a time: the network hands over 16-64 KiB pieces,
 * and one awaited write each held a 33 MB download up some 500 times. flush() writes the rest;
 * a piece at offset 0 after earlier data (the object changed, the download starts over) empties
 * the file first.
 */
export class DownloadFile implements ObjectSink {
  private pending: Buffer[] = []
  private pendingBytes = 0
  private pendingOffset = 0

  constructor(private readonly handle: FileHandle) {}

  async write(chunk: Buffer, offset: number): Promise<void> {
    if (offset === 0) {
      this.pending = []
      this.pendingBytes = 0
      this.pendingOffset = 0
      await this.handle.truncate(0)
    } else if (offset !== this.pendingOffset + this.pendingBytes) {
      await this.flush()
    }

    if (this.pendingBytes === 0) this.pendingOffset = offset
    this.pending.push(chunk)
    this.pendingBytes += chunk.length
    if (this.pendingBytes >= WRITE_SIZE) await this.flush()
  }

  /** Bytes from offset 0 already handed to the file (readable from it): the rest waits in memory. */
  get writtenEnd(): number {
    return this.pendingOffset
  }

  /** Bytes from offset 0 received so far, in the file or waiting in memory. */
  get receivedEnd(): number {
    return this.pendingOffset + this.pendingBytes
  }

  async flush(): Promise<void> {
    if (this.pendingBytes === 0) return
    const data = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes)
    const at = this.pendingOffset
    this.pending = []
    this.pendingBytes = 0
    for (let done = 0; done < data.length;) {
      done += (await this.handle.write(data, done, data.length - done, at + done)).bytesWritten
    }

    this.pendingOffset = at + data.length
  }
}

/** Downloads the whole object into `file` (created 0600); the file is removed when that fails. */
export async function downloadToFile(request: ReadRequest, file: string): Promise<void> {
  const handle = await fsp.open(file, 'wx', 0o600)
  try {
    const download = new DownloadFile(handle)
    await readObject(request, download)
    await download.flush()
    await handle.close()
  } catch (error) {
    await handle.close().catch(() => {})
    removeTemp(file)
    throw error
  }
}
