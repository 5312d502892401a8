import type {S3Client} from '@aws-sdk/client-s3'

import fsp from 'node:fs/promises'

import type {BackupTarget, FetchedArchive, StoredArchive} from './target.js'

import {fromSystemError, LibraryBackupError} from '../errors.js'
import {makeDirectories} from '../fs/make-directories.js'
import {removeTemp, tempPathIn} from '../fs/temp-files.js'
import {DeleteObjectCommand, HeadObjectCommand, ListObjectsV2Command} from './aws-sdk.js'
import {downloadToFile} from './download-file.js'
import {privateTempDir} from './private-scratch.js'
import {
  createS3Client,
  type RetryPolicy,
  retryPolicyFromEnv,
  statusOf,
  type StorageContext,
  withRetries,
} from './s3-client.js'
import {compareObject, readHead, type ReadRequest} from './s3-download.js'
import {
  ConditionalWritesUnsupported,
  KeyTaken,
  upload,
  type UploadOutcome,
  type UploadSettings,
  uploadSettingsFromEnv,
} from './s3-upload.js'
import {formatS3Url, parseS3Url, type S3Location} from './s3-url.js'
import {StreamedDownload} from './streamed-download.js'

export {isS3Url, parseS3ObjectUrl, parseS3Url} from './s3-url.js'

export interface S3BucketOptions {
  /** Where archives are staged before upload; a private temporary directory when omitted. */
  stagingDir?: string
  /** Aborting it aborts every request in flight, like `abort()`. */
  signal?: AbortSignal
}

/** An `s3://BUCKET/PREFIX/` location, configured by the AWS conventions (environment, profiles). */
export class S3Bucket implements BackupTarget {
  readonly location: string
  private readonly where: S3Location
  private readonly policy: RetryPolicy = retryPolicyFromEnv()
  private readonly settings: UploadSettings = uploadSettingsFromEnv()
  private readonly client: S3Client
  private readonly controller = new AbortController()
  private readonly inFlight = new Set<Promise<unknown>>()
  private stagingDir: string | undefined
  /** Cleared when the store answers NotImplemented to If-None-Match. */
  private conditionalWrites = true

  constructor(location: string | S3Location, options: S3BucketOptions = {}) {
    this.where = typeof location === 'string' ? parseS3Url(location) : location
    this.location = formatS3Url(this.where)
    this.client = createS3Client(this.policy)
    this.stagingDir = options.stagingDir
    options.signal?.addEventListener('abort', () => this.abort(), {once: true})
  }

  addressOf(name: string): string {
    return formatS3Url(this.where, name)
  }

  /** Objects have no path: every read is a request. */
  localPath(): undefined {
    return undefined
  }

  list(isCandidate: (name: string) => boolean): Promise<StoredArchive[]> {
    return this.track('listing', async () => {
      const found: StoredArchive[] = []
      let token: string | undefined
      do {
        const page = await this.retry({doing: 'listing', url: this.location}, () =>
          this.client.send(
            new ListObjectsV2Command({
              Bucket: this.where.bucket,
              Prefix: this.where.prefix,
              Delimiter: '/',
              ContinuationToken: token,
            }),
            {abortSignal: this.controller.signal},
          ),
        )
        for (const entry of page.Contents ?? []) {
          const name = (entry.Key ?? '').slice(this.where.prefix.length)
          if (name === '' || name.includes('/') || !isCandidate(name)) continue
          found.push({name, sizeBytes: entry.Size ?? 0, modifiedAt: entry.LastModified ?? new Date(0)})
        }

        token = page.IsTruncated ? page.NextContinuationToken : undefined
      } while (token)

      return found
    })
  }

  /**
   * One listing request, as list() sees the object: a missing bucket is an error, not a missing
   * name. The exact key sorts before any longer one, and a `name/` folder rolls up.
   */
  stat(name: string): Promise<StoredArchive | undefined> {
    return this.track('listing', async () => {
      if (name === '' || name.includes('/')) return
      const key = this.where.prefix + name
      const page = await this.retry({doing: 'listing', url: this.addressOf(name)}, () =>
        this.client.send(new ListObjectsV2Command({Bucket: this.where.bucket, Prefix: key, Delimiter: '/'}), {
          abortSignal: this.controller.signal,
        }),
      )
      const entry = page.Contents?.find((candidate) => candidate.Key === key)
      if (!entry) return
      return {name, sizeBytes: entry.Size ?? 0, modifiedAt: entry.LastModified ?? new Date(0)}
    })
  }

  readHead(name: string, bytes: number): Promise<Buffer> {
    return this.track('reading', () => readHead(this.reading(name, 'reading'), bytes))
  }

  readRange(name: string, start: number, bytes: number): Promise<Buffer> {
    return this.track('reading', () => readHead(this.reading(name, 'reading'), bytes, start))
  }

  fetch(name: string, scratchDir?: string): Promise<FetchedArchive> {
    return this.track('downloading', async () => {
      const file = tempPathIn(scratchDir ?? (await this.ownScratch()), 'download')
      await downloadToFile(this.reading(name, 'downloading'), file)
      return {path: file, dispose: () => removeTemp(file)}
    })
  }

  /** The archive as it downloads, readable before it is whole (streamed-download.ts): a restore's plain archive. */
  stream(name: string, scratchDir: string): Promise<StreamedDownload> {
    return this.track('downloading', async () => {
      const download = await StreamedDownload.start(this.reading(name, 'downloading'), scratchDir)
      this.track('downloading', () => download.whole()).catch(() => {}) // abort() waits for it too
      return download
    })
  }

  async prepareStaging(): Promise<string> {
    // One listing request first: a missing bucket or bad credentials are reported before the
    // snapshot and the compression, not after them.
    await this.list(() => false)
    return this.ownScratch()
  }

  /** The staging directory is private and reused by every run; the staged file is removed by its owner. */
  async abandonStaging(): Promise<void> {}

  commit(stagedFile: string, name: string, options: {overwrite: boolean}): Promise<boolean> {
    return this.track('uploading', async () => {
      const key = this.where.prefix + name
      const context = {doing: 'uploading', url: this.addressOf(name)}
      if (!options.overwrite && (await this.exists(key, context))) return false
      const {size} = await fsp.stat(stagedFile)
      const send = (ifNoneMatch: boolean): Promise<UploadOutcome> =>
        upload({
          client: this.client,
          policy: this.policy,
          settings: this.settings,
          bucket: this.where.bucket,
          key,
          file: stagedFile,
          size,
          ifNoneMatch,
          signal: this.controller.signal,
          context,
        })
      let outcome: UploadOutcome
      try {
        try {
          outcome = await send(!options.overwrite && this.conditionalWrites)
        } catch (error) {
          if (!(error instanceof ConditionalWritesUnsupported)) throw error
          this.conditionalWrites = false
          outcome = await send(false)
        }
      } catch (error) {
        if (error instanceof KeyTaken) return false
        // Some stores commit what they received of an interrupted upload. The key was free (the
        // upload said If-None-Match: *, or was checked just before), so an object there is ours.
        if (!options.overwrite) await this.forget(key)
        throw error
      }

      let difference: string | undefined
      try {
        difference = await compareObject(this.reading(name, 'checking the upload of'), stagedFile, size)
      } catch (error) {
        // Unchecked (Ctrl-C, or the store stopped answering) is not good enough to keep the name.
        if (outcome === 'stored') await this.forget(key)
        throw error
      }

      // An ambiguous answer with other bytes there: another writer's archive, which we leave alone.
      if (difference && outcome === 'ambiguous') return false
      if (difference) {
        await this.forget(key)
        throw new LibraryBackupError(
          'STORAGE_ERROR',
          `The object store kept ${difference} for ${this.addressOf(name)}, so the upload was deleted`,
          {
            hint: 'Check the store (for S3-compatible servers, its checksum support) and try again.',
          },
        )
      }

      await fsp.rm(stagedFile, {force: true})
      return true
    })
  }

  remove(name: string): Promise<void> {
    return this.track('deleting', async () => {
      await this.retry({doing: 'deleting', url: this.addressOf(name)}, () =>
        this.client.send(new DeleteObjectCommand({Bucket: this.where.bucket, Key: this.where.prefix + name}), {
          abortSignal: this.controller.signal,
        }),
      )
    })
  }

  /**
   * Stops every request in flight (Ctrl-C): an open multipart upload is aborted in the store
   * before this resolves, so nothing is left dangling. The bucket is unusable afterwards.
   */
  async abort(): Promise<void> {
    this.controller.abort()
    await Promise.allSettled(this.inFlight)
  }

  /** Deletes even after abort(), with short retries: it is cleanup on the way out of a failure. */
  private async forget(key: string): Promise<void> {
    const policy = {...this.policy, budgetMs: Math.min(this.policy.budgetMs, 10_000)}
    await withRetries(policy, {doing: 'deleting', url: key}, () =>
      this.client.send(new DeleteObjectCommand({Bucket: this.where.bucket, Key: key})),
    ).catch(() => {})
  }

  private async exists(key: string, context: StorageContext): Promise<boolean> {
    try {
      await this.retry(context, () =>
        this.client.send(new HeadObjectCommand({Bucket: this.where.bucket, Key: key}), {
          abortSignal: this.controller.signal,
        }),
      )
      return true
    } catch (error) {
      if (statusOf((error as {cause?: unknown}).cause) === 404) return false
      throw error
    }
  }

  /** Downloads and staged archives share one private directory, created on first use. */
  private async ownScratch(): Promise<string> {
    if (this.stagingDir === undefined) this.stagingDir = await privateTempDir()
    else makeDirectories(this.stagingDir, 0o700)
    return this.stagingDir
  }

  private reading(name: string, doing: string): ReadRequest {
    return {
      client: this.client,
      policy: this.policy,
      bucket: this.where.bucket,
      key: this.where.prefix + name,
      signal: this.controller.signal,
      context: {doing, url: this.addressOf(name)},
    }
  }

  private retry<T>(context: StorageContext, operation: () => Promise<T>): Promise<T> {
    return withRetries(this.policy, context, operation, this.controller.signal)
  }

  /** Remembers the operation for abort(); a local file problem becomes one of our sentences. */
  private track<T>(doing: string, operation: () => Promise<T>): Promise<T> {
    const running = operation().catch((error: unknown) => {
      throw fromSystemError(error, `${doing} ${this.location}`)
    })
    this.inFlight.add(running)
    const forget = (): void => {
      this.inFlight.delete(running)
    }

    running.then(forget, forget)
    return running
  }
}
