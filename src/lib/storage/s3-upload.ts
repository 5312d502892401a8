import type {S3Client} from '@aws-sdk/client-s3'

import fs from 'node:fs'

import {LibraryBackupError} from '../errors.js'
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
} from './aws-sdk.js'
import {codeOf, type RetryPolicy, statusOf, type StorageContext, storageError, withRetries} from './s3-client.js'

/**
 * Uploads a file from disk, streamed in ranges re-read for each attempt, so memory stays bounded
 * whatever the archive's size and a retried part sends the same bytes again.
 */
export interface UploadSettings {
  /** Files up to this size go in one PUT: on loopback it is faster than a multipart upload. */
  multipartThreshold: number
  partSize: number
  concurrency: number
}

const MiB = 1024 * 1024
/** The staged file is sent 1 MiB per read: 64 KiB reads (the stream default) cost twice the CPU. */
const READ_BLOCK = MiB

export function uploadSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): UploadSettings {
  const threshold = Number(env.VPO_S3_MULTIPART_THRESHOLD)
  const partSize = Number(env.VPO_S3_PART_SIZE)
  return {
    multipartThreshold: threshold > 0 ? threshold : 64 * MiB,
    // 5 MiB is the smallest part S3 accepts (other than the last one).
    partSize: partSize >= 5 * MiB ? partSize : 16 * MiB,
    concurrency: 4,
  }
}

export interface UploadRequest {
  client: S3Client
  policy: RetryPolicy
  settings: UploadSettings
  bucket: string
  key: string
  file: string
  size: number
  /** Sends If-None-Match: * so a concurrent writer's object is never replaced. */
  ifNoneMatch: boolean
  signal: AbortSignal
  context: StorageContext
}

/** The key was taken by someone else between our check and our upload. */
export class KeyTaken extends Error {}

/** The store does not implement conditional writes: retry without them. */
export class ConditionalWritesUnsupported extends Error {}

/**
 * 'ambiguous': a retried request met 412 or NoSuchUpload, which is what our own earlier attempt
 * produces when it succeeded but its answer was lost. Only the stored bytes can tell whose it is.
 */
export type UploadOutcome = 'ambiguous' | 'stored'

export async function upload(request: UploadRequest): Promise<UploadOutcome> {
  try {
    return await (request.size <= request.settings.multipartThreshold ? putSingle(request) : putMultipart(request))
  } catch (error) {
    if (isPreconditionFailed(error)) throw new KeyTaken()
    if (request.ifNoneMatch && (statusOf(error) === 501 || codeOf(error) === 'NotImplemented')) {
      throw new ConditionalWritesUnsupported()
    }

    throw error
  }
}

function putSingle(request: UploadRequest): Promise<UploadOutcome> {
  const {client, bucket, key, file, size, signal} = request
  return storeOnce(request, signal, isPreconditionFailed, () =>
    client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: fs.createReadStream(file, {highWaterMark: READ_BLOCK}),
        ContentLength: size,
        ContentType: 'application/gzip',
        IfNoneMatch: request.ifNoneMatch ? '*' : undefined,
      }),
      {abortSignal: signal},
    ),
  )
}

/**
 * The request that makes the object appear (the PUT, or completing a multipart upload), retried.
 * A retry refused as `mayHaveLanded` says is what our own earlier attempt produces when it
 * succeeded but its answer was lost: 'ambiguous', for the caller to settle by the stored bytes.
 */
async function storeOnce(
  request: UploadRequest,
  signal: AbortSignal,
  mayHaveLanded: (error: unknown) => boolean,
  send: () => Promise<unknown>,
): Promise<UploadOutcome> {
  return withRetries(
    request.policy,
    request.context,
    async ({attempt}) => {
      try {
        await send()
        return 'stored' as const
      } catch (error) {
        if (attempt > 1 && mayHaveLanded(error)) return 'ambiguous' as const
        throw error
      }
    },
    signal,
  ).catch(rethrowRaw)
}

async function putMultipart(request: UploadRequest): Promise<UploadOutcome> {
  const {client, policy, settings, bucket, key, file, size, context} = request
  const created = await withRetries(
    policy,
    context,
    () =>
      client.send(new CreateMultipartUploadCommand({Bucket: bucket, Key: key, ContentType: 'application/gzip'}), {
        abortSignal: request.signal,
      }),
    request.signal,
  )
  const uploadId = created.UploadId
  if (!uploadId) throw storageError(new Error('the store returned no upload id'), context)
  // A failing part stops its siblings at once: they share this signal with the caller's.
  const parts = new AbortController()
  const stop = (): void => parts.abort()
  request.signal.addEventListener('abort', stop, {once: true})
  if (request.signal.aborted) stop()
  const {signal} = parts
  try {
    // S3 allows at most 10,000 parts: very large archives get larger parts.
    const partSize = Math.max(settings.partSize, Math.ceil(size / 10_000))
    const count = Math.ceil(size / partSize)
    const etags: string[] = Array.from({length: count})
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < count && !signal.aborted) {
        const index = next++
        const start = index * partSize
        const end = Math.min(size, start + partSize)
        const part = await withRetries(
          policy,
          context,
          () =>
            client.send(
              new UploadPartCommand({
                Bucket: bucket,
                Key: key,
                UploadId: uploadId,
                PartNumber: index + 1,
                Body: fs.createReadStream(file, {start, end: end - 1, highWaterMark: READ_BLOCK}),
                ContentLength: end - start,
              }),
              {abortSignal: signal},
            ),
          signal,
        )
        etags[index] = part.ETag ?? ''
      }
    }

    const workers = Array.from({length: Math.min(settings.concurrency, count)}, () =>
      worker().catch((error: unknown) => {
        stop()
        throw error
      }),
    )
    // Settle every part before aborting, or a late part could outlive the abort.
    const results = await Promise.allSettled(workers)
    const rejected = results.filter((result) => result.status === 'rejected').map((result) => result.reason as unknown)
    if (rejected.length > 0) throw rejected.find((reason) => !isInterrupted(reason)) ?? rejected[0]
    // An upload already completed is gone: a retry of its completion meets NoSuchUpload.
    const completedBefore = (error: unknown): boolean => isPreconditionFailed(error) || codeOf(error) === 'NoSuchUpload'
    return await storeOnce(request, signal, completedBefore, () =>
      client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: {Parts: etags.map((ETag, i) => ({ETag, PartNumber: i + 1}))},
          IfNoneMatch: request.ifNoneMatch ? '*' : undefined,
        }),
        {abortSignal: signal},
      ),
    )
  } catch (error) {
    await abortMultipart(request, uploadId)
    throw error
  } finally {
    request.signal.removeEventListener('abort', stop)
  }
}

/** Best effort with its own short retries: the caller's error is what the user must see. */
export async function abortMultipart(request: UploadRequest, uploadId: string): Promise<boolean> {
  const {client, policy, bucket, key} = request
  try {
    await withRetries(
      {...policy, budgetMs: Math.min(policy.budgetMs, 10_000)},
      {doing: 'aborting the upload of', url: key},
      () => client.send(new AbortMultipartUploadCommand({Bucket: bucket, Key: key, UploadId: uploadId})),
    )
    return true
  } catch {
    return false
  }
}

function isPreconditionFailed(error: unknown): boolean {
  return statusOf(error) === 412 || codeOf(error) === 'PreconditionFailed'
}

function isInterrupted(error: unknown): boolean {
  return error instanceof LibraryBackupError && error.code === 'INTERRUPTED'
}

/** Conditional-write answers must reach `upload` as the SDK's error, not as our sentence. */
function rethrowRaw(error: unknown): never {
  const {cause} = error as {cause?: unknown}
  const raw = cause ?? error
  if (
    statusOf(raw) === 412 ||
    statusOf(raw) === 501 ||
    codeOf(raw) === 'PreconditionFailed' ||
    codeOf(raw) === 'NotImplemented'
  )
    throw raw
  throw error
}
