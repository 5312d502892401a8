import fsp from 'node:fs/promises'

import {quickCheckArchive} from '../archive/index.js'
import {checkFraming} from '../encryption/ends.js'
import {ageFileKind} from '../encryption/format.js'
import {HEADER_MAX} from '../encryption/header.js'
import {NONCE_SIZE} from '../encryption/stream.js'
import {invalidArchive} from '../errors.js'

/**
 * The check an archive passes before it is copied anywhere: `library:verify --quick` for a plain
 * one (gzip members and tar headers, nothing inflated); for an encrypted one, which may be copied
 * by a machine that holds no key, its age header and the size its framing (and recorded length) fixes.
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

  if (ageFileKind(head) === undefined) {
    await quickCheckArchive(file).catch((error: Error & {code?: string}) => {
      // The reader names the local scratch copy; the user knows the archive by its own name.
      if (error.code === 'INVALID_ARCHIVE' || error.code === 'UNSUPPORTED_ARCHIVE') {
        throw invalidArchive(label, error.message.replace(/^.* is not a valid VPO backup: /, ''), error)
      }

      throw error
    })
    return {encrypted: false}
  }

  // The age framing, and the plain length this plugin records in the header, fix the file's size.
  const {problem} = checkFraming(head, size)
  if (problem) throw invalidArchive(label, problem)
  return {encrypted: true}
}
