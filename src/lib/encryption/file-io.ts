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

/** Writes `parts` back to back at `position`, however many calls that takes. */
export async function writevAll(file: FileHandle, parts: Buffer[], position: number): Promise<number> {
  const total = parts.reduce((sum, part) => sum + part.length, 0)
  const {bytesWritten} = await file.writev(parts, position)
  if (bytesWritten < total) {
    const rest = Buffer.concat(parts).subarray(bytesWritten)
    for (let done = 0; done < rest.length;) {
      done += (await file.write(rest, done, rest.length - done, position + bytesWritten + done)).bytesWritten
    }
  }

  return total
}

export async function writeAll(file: FileHandle, data: Uint8Array): Promise<void> {
  let written = 0
  while (written < data.length) {
    const {bytesWritten} = await file.write(data, written, data.length - written)
    written += bytesWritten
  }
}

/** Waits out operations still in flight, ignoring their outcome, so no handle closes under them. */
export async function settle(...operations: Array<Promise<unknown> | undefined>): Promise<void> {
  await Promise.allSettled(operations.filter(Boolean))
}

/**
 * Marks an operation started ahead of its `await` as handled, so a failure while the main thread
 * is busy is not reported as an unhandled rejection; awaiting it still throws.
 */
export function inFlight<T>(operation: Promise<T>): Promise<T> {
  operation.catch(() => {})
  return operation
}
