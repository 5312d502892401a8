import type {S3Client} from '@aws-sdk/client-s3'
import type {Readable} from 'node:stream'

import {LibraryBackupError} from '../errors.js'
import {GetObjectCommand} from './aws-sdk.js'
import {type RetryPolicy, statusOf, type StorageContext, withRetries} from './s3-client.js'
import {StagedFileCompare} from './staged-file-compare.js'

/**
 * Reads whole objects and object heads. A download cut short resumes where it stopped (a ranged
 * GET pinned to the same ETag), and starts over when the object changed in between.
 */
export interface ReadRequest {
  client: S3Client
  policy: RetryPolicy
  bucket: string
  key: string
  signal: AbortSignal
  context: StorageContext
}

export interface ObjectSink {
  /** Bytes at `offset`, in order; an offset of 0 after earlier data means "start over". */
  write(chunk: Buffer, offset: number): Promise<void> | void
  /** The store answered a GET of the whole object: its length; again only if the download starts over. */
  begin?(total: number | undefined): void
}

/** Raised when a body ends early, so that the retry loop treats it like a reset connection. */
class CutShort extends Error {
  readonly code = 'ERR_STREAM_PREMATURE_CLOSE'
}

/** One GET of the request's object: all of it, or the bytes `range` names, of the version `ifMatch` names. */
function getObject(request: ReadRequest, options: {ifMatch?: string; range?: string}) {
  const {client, bucket, key, signal} = request
  return client.send(new GetObjectCommand({Bucket: bucket, Key: key, Range: options.range, IfMatch: options.ifMatch}), {
    abortSignal: signal,
  })
}

/** Streams the object into `sink`; resolves with its length once every promised byte arrived. */
export async function readObject(request: ReadRequest, sink: ObjectSink): Promise<number> {
  const {policy, signal, context} = request
  let received = 0
  let total: number | undefined
  let etag: string | undefined
  await withRetries(
    policy,
    context,
    async () => {
      let response
      try {
        // A resumed download is pinned to the version it started on.
        response = await getObject(request, received > 0 ? {range: `bytes=${received}-`, ifMatch: etag} : {})
      } catch (error) {
        if (received === 0 || statusOf(error) !== 412) throw error
        // The object was replaced since we started: what we have belongs to another version.
        received = 0
        throw new CutShort('the object changed during the download')
      }

      if (received > 0 && !response.ContentRange) received = 0 // the store ignored the range
      if (received === 0) {
        total = response.ContentLength
        etag = response.ETag
        sink.begin?.(total)
      }

      const body = response.Body as Readable | undefined
      if (!body) throw new CutShort('the store sent no body')
      for await (const chunk of body) {
        await sink.write(chunk as Buffer, received)
        received += (chunk as Buffer).length
      }

      if (total === undefined || received < total) throw new CutShort(`the download stopped after ${received} bytes`)
    },
    signal,
  )
  if (received !== total) {
    throw new LibraryBackupError(
      'STORAGE_ERROR',
      `The object store sent ${received} bytes for ${context.url} but promised ${total}`,
      {
        hint: 'Try again, and check the store if it persists.',
      },
    )
  }

  return received
}

/** The first `bytes` bytes from `start` (fewer when the object is shorter), reading no further. */
export async function readHead(request: ReadRequest, bytes: number, start = 0): Promise<Buffer> {
  if (bytes <= 0) return Buffer.alloc(0)
  const {policy, signal, context} = request
  return withRetries(
    policy,
    context,
    async () => {
      let response
      try {
        response = await getObject(request, {range: `bytes=${start}-${start + bytes - 1}`})
      } catch (error) {
        // An empty object has no byte 0 to start a range at (nor any object a byte past its end).
        if (statusOf(error) === 416) return Buffer.alloc(0)
        throw error
      }

      const body = response.Body as Readable
      const chunks: Buffer[] = []
      // A store that ignores Range sends the whole object: the bytes before `start` are skipped.
      let skip = start > 0 && !response.ContentRange ? start : 0
      const promised = response.ContentLength === undefined ? undefined : response.ContentLength - skip
      let length = 0
      for await (const received of body) {
        let chunk = received as Buffer
        if (skip > 0) {
          const dropped = Math.min(skip, chunk.length)
          skip -= dropped
          chunk = chunk.subarray(dropped)
        }

        chunks.push(chunk)
        length += chunk.length
        if (length >= bytes) break // leaving the loop destroys the stream: a store that ignores Range costs no more
      }

      if (length < bytes && promised !== undefined && length < promised) {
        throw new CutShort('the head was cut short')
      }

      return Buffer.concat(chunks).subarray(0, bytes)
    },
    signal,
  )
}

/**
 * Reads the object back and compares it byte for byte with the local file (still in the page
 * cache): cheaper than hashing both sides. Undefined when identical, else how it differs.
 */
export async function compareObject(request: ReadRequest, file: string, size: number): Promise<string | undefined> {
  const local = await StagedFileCompare.open(file, size)
  let differs = false
  try {
    const stored = await readObject(request, {
      async write(chunk, offset) {
        if (offset === 0) differs = false
        if (!differs && !(await local.matches(chunk, offset))) differs = true
      },
    })
    if (stored !== size) return `${stored} bytes instead of ${size}`
    return differs ? 'different bytes' : undefined
  } finally {
    await local.close()
  }
}
