import fsp from 'node:fs/promises'

import {quickCheckArchive} from './archive.js'
import {isEncryptedHead} from './encrypted-archives.js'
import {ageFileKind, headerLength} from './encryption/format.js'
import {HEADER_MAX} from './encryption/header.js'
import {NONCE_SIZE, SEALED_CHUNK_SIZE, TAG_SIZE} from './encryption/stream.js'
import {invalidArchive} from './errors.js'

/**
 * The check an archive passes before it is copied anywhere: `library:verify --quick` for a plain
 * one (gzip members and tar headers, nothing inflated); for an encrypted one, which may be copied
 * by a machine that holds no key, its age header and a payload size that whole chunks can make.
 * Throws INVALID_ARCHIVE (exit 3) for a damaged archive. This is the one place a copy decides
 * "whole enough to send": a stricter listing check can replace it here alone.
 */
export async function checkBeforeSending(file: string, label: string): Promise<{encrypted: boolean}> {
  const handle = await fsp.open(file, 'r')
  let head: Buffer
  let size: number
  try {
    size = (await handle.stat()).size
    head = Buffer.alloc(Math.min(size, HEADER_MAX + NONCE_SIZE))
    await handle.read(head, 0, head.length, 0)
  } finally {
    await handle.close()
  }

  if (!isEncryptedHead(head)) {
    await quickCheckArchive(file).catch((error: Error & {code?: string}) => {
      // The reader names the local scratch copy; the user knows the archive by its own name.
      if (error.code === 'INVALID_ARCHIVE' || error.code === 'UNSUPPORTED_ARCHIVE') {
        throw invalidArchive(label, error.message.replace(/^.* is not a valid VPO backup: /, ''), error)
      }

      throw error
    })
    return {encrypted: false}
  }

  const problem = encryptedShapeProblem(head, size)
  if (problem) throw invalidArchive(label, problem)
  return {encrypted: true}
}

/** Why an age file of `size` bytes starting with `head` cannot be whole, or undefined. */
function encryptedShapeProblem(head: Buffer, size: number): string | undefined {
  if (ageFileKind(head) !== 'age') return 'it is not an age file encrypted to keys'
  const header = headerLength(head)
  if (header === undefined) return 'its encryption header is truncated or damaged'
  const payload = size - header - NONCE_SIZE
  if (payload < TAG_SIZE) return 'it ends inside its encryption header'
  // Every chunk but the last is exactly SEALED_CHUNK_SIZE; the last holds a tag and, unless the
  // whole plaintext is empty, at least one byte. A remainder of 1 to 16 bytes is a cut-off file.
  const last = payload % SEALED_CHUNK_SIZE
  if (payload > TAG_SIZE && last > 0 && last <= TAG_SIZE) return `its size (${size} bytes) shows it was cut short`
  return undefined
}
