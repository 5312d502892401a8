/**
 * Reading the gzip members gzip-members.ts describes: inflating a whole file (indexed members in
 * parallel, anything else as one stream), and walking the members' headers and trailers alone.
 */
import fs from 'node:fs'
import os from 'node:os'
import {Readable} from 'node:stream'
import {promisify} from 'node:util'
import zlib from 'node:zlib'

import {HEADER_SIZE, indexedMemberLength, MAX_MEMBER_OUTPUT, TRAILER_SIZE} from './gzip-members.js'
import {type ArchiveBytes, type ArchiveInput, openArchiveBytes} from './source.js'

const gunzip = promisify(zlib.gunzip)

export class GzipFormatError extends Error {}

/**
 * Yields the decompressed bytes of a gzip file in order. Indexed members are inflated
 * `concurrency` at a time; from the first member without an index on, the rest is read as one
 * ordinary gzip stream. Every member's CRC-32 and length are checked.
 */
export async function* inflateFile(
  input: ArchiveInput,
  options: {chunkSize: number; concurrency?: number; onRead?: (offset: number, size: number) => void},
): AsyncGenerator<Buffer> {
  const file = await openArchiveBytes(input)
  const pending: Array<Promise<Buffer>> = []
  try {
    const {size} = file
    const concurrency = options.concurrency ?? os.availableParallelism() * 2
    let offset = 0
    while (offset < size) {
      const head = Buffer.alloc(HEADER_SIZE)
      const {bytesRead} = await file.read(head, 0, HEADER_SIZE, offset)
      const length = indexedMemberLength(head.subarray(0, bytesRead))
      if (length === undefined) break
      if (length < HEADER_SIZE + TRAILER_SIZE || offset + length > size)
        throw new GzipFormatError('the gzip data ends early (the file is truncated)')
      const member = Buffer.allocUnsafe(length)
      await file.read(member, 0, length, offset)
      const inflated = inflateMember(member)
      inflated.catch(() => {}) // awaited below; a consumer that stops early must not leave it unhandled
      pending.push(inflated)
      offset += length
      options.onRead?.(offset, size)
      while (pending.length >= concurrency) yield await pending.shift()!
    }

    while (pending.length > 0) yield await pending.shift()!
    if (offset < size) {
      const stream = Readable.from(readRange(file, offset, options))
      const gunzip = zlib.createGunzip({chunkSize: options.chunkSize})
      stream.on('error', (error) => gunzip.destroy(error))
      stream.pipe(gunzip)
      try {
        for await (const chunk of gunzip as AsyncIterable<Buffer>) yield chunk
      } finally {
        stream.destroy()
        gunzip.destroy()
      }
    }

    await file.finish()
  } finally {
    await file.close()
  }
}

/** The bytes from `start` to the end, `chunkSize` at a time: the part that is one ordinary gzip stream. */
async function* readRange(
  file: ArchiveBytes,
  start: number,
  options: {chunkSize: number; onRead?: (offset: number, size: number) => void},
): AsyncGenerator<Buffer> {
  for (let position = start; position < file.size;) {
    const buffer = Buffer.allocUnsafe(Math.min(options.chunkSize, file.size - position))
    const {bytesRead} = await file.read(buffer, 0, buffer.length, position)
    if (bytesRead === 0) return
    position += bytesRead
    options.onRead?.(position, file.size)
    yield buffer.subarray(0, bytesRead)
  }
}

/** zlib reads the indexed header as any gzip header, and checks the CRC-32 and length itself. */
async function inflateMember(member: Buffer): Promise<Buffer> {
  const isize = member.readUInt32LE(member.length - 4)
  try {
    // Sized from the trailer so the member inflates in one trip to the threadpool.
    const chunkSize = Math.min(MAX_MEMBER_OUTPUT, Math.max(64 * 1024, isize + 1))
    return await gunzip(member, {chunkSize, maxOutputLength: MAX_MEMBER_OUTPUT})
  } catch (error) {
    const {code} = error as NodeJS.ErrnoException
    if (code === 'ERR_BUFFER_TOO_LARGE') throw new GzipFormatError('it decompresses to far more data than it declares')
    if (code === 'Z_DATA_ERROR') throw new GzipFormatError('the gzip data is corrupted (a member fails its check)')
    throw error
  }
}

/** What the member headers and trailers of an indexed gzip file say, read without inflating. */
export interface MemberLayout {
  /** Indexed members found from the start, each whole within the file. */
  members: number
  /** Where each of them starts. */
  offsets: number[]
  /** Sum of their trailers' ISIZE: the bytes they inflate to. */
  inflatedBytes: number
  /** Offset just past the last indexed member; less than the file size when something else follows. */
  end: number
  fileSize: number
  /** The member at `end` has a whole header but runs past the end of the file. */
  cutShort: boolean
}

/**
 * Walks the indexed members by their recorded lengths, reading 20 bytes of header and 8 of
 * trailer each: enough to tell a truncated archive or one with bytes appended from a whole one,
 * without inflating 100 MB.
 */
export async function readMemberLayout(filePath: string): Promise<MemberLayout> {
  const file = await fs.promises.open(filePath, 'r')
  try {
    const {size} = await file.stat()
    const head = Buffer.alloc(HEADER_SIZE)
    const trailer = Buffer.alloc(TRAILER_SIZE)
    let offset = 0
    let members = 0
    let inflatedBytes = 0
    let cutShort = false
    const offsets: number[] = []
    while (offset < size) {
      const {bytesRead} = await file.read(head, 0, HEADER_SIZE, offset)
      const length = indexedMemberLength(head.subarray(0, bytesRead))
      if (length === undefined || length < HEADER_SIZE + TRAILER_SIZE) break
      if (offset + length > size) {
        cutShort = true
        break
      }

      await file.read(trailer, 0, TRAILER_SIZE, offset + length - TRAILER_SIZE)
      inflatedBytes += trailer.readUInt32LE(4)
      offsets.push(offset)
      members++
      offset += length
    }

    return {members, offsets, inflatedBytes, end: offset, fileSize: size, cutShort}
  } finally {
    await file.close()
  }
}

/** Inflates the first member of `head` when it is an indexed member held whole in it. */
export function inflateFirstMember(head: Buffer): Buffer | undefined {
  const length = indexedMemberLength(head)
  if (length === undefined || length > head.length || length < HEADER_SIZE + TRAILER_SIZE) return undefined
  return zlib.gunzipSync(head.subarray(0, length), {maxOutputLength: MAX_MEMBER_OUTPUT})
}

/** Inflates the one member between two offsets (its CRC-32 and length checked by zlib). */
export async function inflateMemberAt(filePath: string, start: number, end: number): Promise<Buffer> {
  const file = await fs.promises.open(filePath, 'r')
  try {
    const member = Buffer.alloc(end - start)
    await file.read(member, 0, member.length, start)
    return await inflateMember(member)
  } finally {
    await file.close()
  }
}
