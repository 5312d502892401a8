import type {S3Client as Client} from '@aws-sdk/client-s3'

import {STATUS_CODES} from 'node:http'

import {fromSystemError, LibraryBackupError} from '../errors.js'
import {S3Client} from './aws-sdk.js'

/**
 * The S3 client, its retry policy and the translation of its failures into one sentence. All
 * retrying happens here (the SDK's own is off) so that count, total time and interruption follow
 * one policy, and so that a streamed body is re-opened for each attempt.
 */
export interface RetryPolicy {
  maxAttempts: number
  baseDelayMs: number
  /** No new attempt starts once this much time has passed since the first one. */
  budgetMs: number
  /** A connection that sends or receives nothing for this long is treated as failed. */
  idleTimeoutMs: number
}

export function retryPolicyFromEnv(env: NodeJS.ProcessEnv = process.env): RetryPolicy {
  return {
    maxAttempts: positive(env.VPO_S3_MAX_ATTEMPTS, 4),
    baseDelayMs: positive(env.VPO_S3_RETRY_DELAY_MS, 500),
    budgetMs: positive(env.VPO_S3_RETRY_BUDGET_MS, 30_000),
    idleTimeoutMs: positive(env.VPO_S3_IDLE_TIMEOUT_MS, 30_000),
  }
}

function positive(text: string | undefined, fallback: number): number {
  const value = Number(text)
  return text && Number.isFinite(value) && value > 0 ? value : fallback
}

/** The custom endpoint, when the AWS conventions name one (the SDK reads the same variables). */
export function customEndpoint(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined
}

export function createS3Client(policy: RetryPolicy): Client {
  // The SDK warns on Node 20 that releases after January 2027 will need Node 22; the range we pin
  // predates that, so the notice is noise to our users. This is the SDK's own opt-out.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
  const endpoint = customEndpoint()
  return new S3Client({
    // Most S3-compatible stores ignore the region, but the signer needs one.
    region: process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || (endpoint ? 'us-east-1' : undefined),
    // Custom endpoints (MinIO, Garage, s3rver, a NAS) rarely have wildcard DNS for bucket hosts.
    forcePathStyle: endpoint !== undefined,
    // The SDK's default (WHEN_SUPPORTED) streams uploads in aws-chunked framing, which several
    // stores (s3rver among them) keep verbatim inside the object while reporting success. A user
    // who sets the AWS variables gets their choice; the read-back check still guards it.
    requestChecksumCalculation: checksumSetting(process.env.AWS_REQUEST_CHECKSUM_CALCULATION),
    responseChecksumValidation: checksumSetting(process.env.AWS_RESPONSE_CHECKSUM_VALIDATION),
    maxAttempts: 1,
    // Without a logger of its own the SDK prints advice to the console (e.g. about stream
    // lengths); our users see only our sentences, and every failure reaches them as one.
    logger: {debug() {}, info() {}, warn() {}, error() {}},
    requestHandler: {connectionTimeout: Math.min(policy.idleTimeoutMs, 10_000), socketTimeout: policy.idleTimeoutMs},
  })
}

function checksumSetting(text: string | undefined): 'WHEN_REQUIRED' | 'WHEN_SUPPORTED' {
  return text?.toUpperCase() === 'WHEN_SUPPORTED' ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED'
}

interface SdkError {
  name?: string
  code?: string
  message?: string
  Code?: string
  $fault?: string
  $metadata?: {httpStatusCode?: number}
  $retryable?: unknown
}

const TRANSIENT_CODES = new Set([
  'SlowDown',
  'ServiceUnavailable',
  'InternalError',
  'RequestTimeout',
  'RequestTimeTooSkewed',
  'Throttling',
  'ThrottlingException',
  'TooManyRequests',
  'TimeoutError',
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
])

const LOCAL_FILE_CODES = new Set(['ENOSPC', 'EDQUOT', 'EACCES', 'EPERM', 'EROFS', 'ENOENT', 'EISDIR', 'EMFILE', 'EIO'])

/** A failure that the same request may not meet again: the network, throttling, a 5xx. */
export function isTransient(error: unknown): boolean {
  if (error instanceof LibraryBackupError) return false
  const err = error as SdkError
  const status = err?.$metadata?.httpStatusCode
  if (status !== undefined && (status >= 500 || status === 429 || status === 408)) return status !== 501
  return [err?.name, err?.code, err?.Code].some((code) => code !== undefined && TRANSIENT_CODES.has(code))
}

export function isAbort(error: unknown, signal?: AbortSignal): boolean {
  return Boolean(signal?.aborted) || (error as SdkError)?.name === 'AbortError'
}

export function statusOf(error: unknown): number | undefined {
  return (error as SdkError)?.$metadata?.httpStatusCode
}

export function codeOf(error: unknown): string | undefined {
  const err = error as SdkError
  return err?.Code ?? (err?.name === 'Error' ? err?.code : err?.name) ?? err?.code
}

export interface Attempt {
  attempt: number
}

/** Runs `operation` until it succeeds, fails for good, or the policy's count or time runs out. */
export async function withRetries<T>(
  policy: RetryPolicy,
  context: StorageContext,
  operation: (attempt: Attempt) => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  const started = Date.now()
  for (let attempt = 1; ; attempt++) {
    if (signal?.aborted) throw interrupted(context)
    try {
      return await operation({attempt})
    } catch (error) {
      if (isAbort(error, signal)) throw interrupted(context)
      const delay = policy.baseDelayMs * 2 ** (attempt - 1) * (0.5 + Math.random() / 2)
      const outOfTime = Date.now() - started + delay > policy.budgetMs
      if (!isTransient(error) || attempt >= policy.maxAttempts || outOfTime) {
        throw storageError(error, context, isTransient(error) ? attempt : undefined)
      }

      await sleep(delay, signal)
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms)
    function done(): void {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }

    signal?.addEventListener('abort', done, {once: true})
  })
}

/** What the failing request was about, for the user-facing sentence. */
export interface StorageContext {
  doing: string
  url: string
}

export function interrupted(context: StorageContext): LibraryBackupError {
  return new LibraryBackupError(
    'INTERRUPTED',
    `Interrupted while ${context.doing} ${context.url}; nothing was left behind in the store`,
  )
}

/** One sentence: what failed, the store's own reason, and what to do about it. */
export function storageError(error: unknown, context: StorageContext, attempts?: number): LibraryBackupError {
  if (error instanceof LibraryBackupError) return error
  // A full disk or an unreadable staged file is ours, not the store's: exit 5 or 1, not 8.
  if (LOCAL_FILE_CODES.has((error as SdkError)?.code ?? ''))
    return fromSystemError(error, `${context.doing} ${context.url}`)
  const err = error as SdkError
  const code = codeOf(error)
  const status = statusOf(error)
  if (code === 'NoSuchKey') {
    const location = context.url.slice(0, context.url.lastIndexOf('/') + 1)
    return new LibraryBackupError('BACKUP_NOT_FOUND', `${context.url} does not exist`, {
      cause: error,
      hint: `vpo library:backups --path ${location} lists the backups there.`,
    })
  }

  const reason = storeReason(err, code, status)
  const tried = attempts && attempts > 1 ? ` after ${attempts} attempts` : ''
  const todo = /region is missing/i.test(reason)
    ? 'set AWS_REGION (or a region in the AWS profile) and try again'
    : advice(code, status)
  const message = `The object store failed while ${context.doing} ${context.url}${tried} (${reason})`
  return new LibraryBackupError('STORAGE_ERROR', message, {
    cause: error,
    hint: `${todo[0].toUpperCase()}${todo.slice(1)}.`,
  })
}

function storeReason(err: SdkError, code: string | undefined, status: number | undefined): string {
  // A HEAD answer has no body, so the SDK knows only the status: name it the way HTTP does.
  const vague = code === undefined || code === 'Unknown' || code === 'UnknownError' || code === 'Error'
  const httpText = status ? `HTTP ${status} ${STATUS_CODES[status] ?? ''}`.trim() : undefined
  let text = (err?.message ?? '').split('\n')[0].trim().replace(/\.+$/, '')
  if (text === '' || text === 'UnknownError' || text === 'Unknown' || text === code)
    text = httpText ?? 'no reason given'
  if (!vague && !text.includes(code)) text = `${code}: ${text}`
  return text
}

function advice(code: string | undefined, status: number | undefined): string {
  switch (code) {
    case 'NoSuchBucket': {
      return 'create the bucket or correct the s3:// location'
    }

    case 'InvalidAccessKeyId':
    case 'SignatureDoesNotMatch':
    case 'InvalidToken':
    case 'ExpiredToken':
    case 'CredentialsProviderError': {
      return 'check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) and try again'
    }

    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'TimeoutError': {
      return 'check the network and the endpoint (AWS_ENDPOINT_URL_S3), then try again'
    }

    default: {
      if (status === 403 || code === 'AccessDenied')
        return "check that the credentials may use this bucket (the bucket's policy and the key's permissions)"
      if (/region/i.test(code ?? '') || status === 301) return "set AWS_REGION to the bucket's region and try again"
      return "try again later, and check the store's status if it keeps failing"
    }
  }
}
