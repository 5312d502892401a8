import fsp from 'node:fs/promises'

/** Random access to an archive's gzip bytes, from the file itself or decrypted as they are read. */
export interface ArchiveBytes {
  readonly size: number
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{bytesRead: number}>
  /** After the last byte was read: an encrypted archive authenticates any chunk not read yet. */
  finish(): Promise<void>
  close(): Promise<void>
}

/**
 * An archive read through open(): an encrypted one whose key is already unwrapped (each open()
 * decrypts as it reads), or a plain one still downloading (each read waits for its bytes).
 * Either reports its bytes whole only through finish().
 */
export interface OpenableArchive {
  path: string
  open(): Promise<ArchiveBytes>
}

/** A plain archive by its path, or one read through open(). */
export type ArchiveInput = OpenableArchive | string

/** The archive's own path, for messages. */
export function inputPath(input: ArchiveInput): string {
  return typeof input === 'string' ? input : input.path
}

export async function openArchiveBytes(input: ArchiveInput): Promise<ArchiveBytes> {
  if (typeof input !== 'string') return input.open()
  const handle = await fsp.open(input, 'r')
  try {
    const {size} = await handle.stat()
    return {
      size,
      read: (buffer, offset, length, position) => handle.read(buffer, offset, length, position),
      async finish() {},
      close: () => handle.close(),
    }
  } catch (error) {
    await handle.close()
    throw error
  }
}
