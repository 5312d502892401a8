import {type FileHandle} from 'node:fs/promises'

/** Reads up to `length` bytes at `position`, fewer only at the end of the file. */
export async function readAt(file: FileHandle, position: number, length: number, into?: Buffer): Promise<Buffer> {
  const buffer = into && into.length >= length ? into.subarray(0, length) : Buffer.alloc(length)
  let filled = 0
  while (filled < length) {
    const {bytesRead} = await file.read(buffer, filled, length - filled, position + filled)
    if (bytesRead === 0) break
    filled += bytesRead
  }

  return buffer.subarray(0, filled)
}

export async function writeAll(file: FileHandle, data: Uint8Array): Promise<void> {
  let written = 0
  while (written < data.length) {
    const {bytesWritten} = await file.write(data, written, data.length - written)
    written += bytesWritten
  }
}
