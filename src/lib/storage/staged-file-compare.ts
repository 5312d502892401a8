import fsp, {type FileHandle} from 'node:fs/promises'

/**
 * The staged archive, read front to back in large blocks with the next one already on its way,
 * for comparing an object as it is read back. The network hands over 16-64 KiB at a time; one
 * awaited file read per piece held the download up thousands of times for a 33 MB archive.
 */
const BLOCK = 1024 * 1024

export class StagedFileCompare {
  private block: {data: Buffer; start: number} = {start: 0, data: Buffer.alloc(0)}
  private next: undefined | {data: Promise<Buffer>; start: number}

  private constructor(
    private readonly file: FileHandle,
    private readonly size: number,
  ) {}

  static async open(path: string, size: number): Promise<StagedFileCompare> {
    return new StagedFileCompare(await fsp.open(path, 'r'), size)
  }

  /** Whether `chunk` equals the file's bytes at `offset` (false past the file's end). */
  async matches(chunk: Buffer, offset: number): Promise<boolean> {
    if (offset + chunk.length > this.size) return false
    for (let done = 0; done < chunk.length;) {
      const at = offset + done
      if (at < this.block.start || at >= this.block.start + this.block.data.length) await this.load(at)
      const from = at - this.block.start
      const length = Math.min(chunk.length - done, this.block.data.length - from)
      if (length <= 0) return false // the file is shorter than it was when staged
      if (!chunk.subarray(done, done + length).equals(this.block.data.subarray(from, from + length))) return false
      done += length
    }

    return true
  }

  async close(): Promise<void> {
    await this.next?.data.catch(() => {})
    await this.file.close()
  }

  /** The block holding `at`: the one read ahead when the object is read in order (it nearly always is). */
  private async load(at: number): Promise<void> {
    const start = at - (at % BLOCK)
    const ahead = this.next
    this.next = undefined
    let data: Buffer
    if (ahead?.start === start) {
      data = await ahead.data
    } else {
      await ahead?.data.catch(() => {})
      data = await this.read(start)
    }

    this.block = {start, data}
    if (start + BLOCK < this.size) {
      const upcoming = this.read(start + BLOCK)
      upcoming.catch(() => {}) // awaited by the next load, or settled by close()
      this.next = {start: start + BLOCK, data: upcoming}
    }
  }

  private async read(start: number): Promise<Buffer> {
    const buffer = Buffer.allocUnsafe(Math.min(BLOCK, this.size - start))
    let filled = 0
    while (filled < buffer.length) {
      const {bytesRead} = await this.file.read(buffer, filled, buffer.length - filled, start + filled)
      if (bytesRead === 0) break
      filled += bytesRead
    }

    return buffer.subarray(0, filled)
  }
}
