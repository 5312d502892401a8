import type {ReadEntry} from 'tar'

import crypto from 'node:crypto'
import fs from 'node:fs'
import {promisify} from 'node:util'

import {invalidArchive, LibraryBackupError} from '../errors.js'
import {assertGzipContainer, describeGzipError} from './gzip-container.js'
import {inflateFile} from './gzip-inflate.js'
import {type BackupMetadata, DATABASE_MEMBER, METADATA_MAX_BYTES, METADATA_MEMBER, parseMetadata} from './metadata.js'
import {type ArchiveInput, inputPath} from './source.js'
import {tar} from './tar-module.js'
import {type Progress} from './writer.js'

const READ_CHUNK = 1024 * 1024
export const BLOCK = 512
/** Slack for unknown members and tar headers before a stream counts as a decompression bomb. */
const BOMB_SLACK = 16 * 1024 * 1024
export const REGULAR_TYPES = new Set(['ContiguousFile', 'File', 'OldFile'])
/** How far the inflated database may run ahead of its writes before the walk waits for them. */
const MAX_UNWRITTEN = 4 * 1024 * 1024
const writeAt = promisify(fs.write)

/** What a reader learned. */
export interface ArchiveContents {
  metadata?: BackupMetadata
  /** True when the metadata had a checksum and `library.db` matched it. */
  checksumVerified: boolean
}

interface ScanOptions {
  /** Stream `library.db` into this file (created exclusively, mode 0600, not fsynced). */
  databaseDestination?: string
  /** Stop at the first required member (the metadata, unless VPO's Python layout puts the database first). */
  headOnly?: boolean
  onProgress?: Progress
}

/** Reads the first required member only: the metadata, unless VPO's Python layout puts it last. */
async function readArchiveHead(archivePath: ArchiveInput): Promise<ArchiveContents> {
  return new ArchiveScan(archivePath, {headOnly: true}).run()
}

/** Reads the metadata wherever it is in the archive (the whole archive for VPO's Python layout). */
export async function readArchiveMetadata(archivePath: ArchiveInput): Promise<BackupMetadata> {
  const head = await readArchiveHead(archivePath)
  if (head.metadata) return head.metadata
  const whole = await new ArchiveScan(archivePath, {}).run()
  return whole.metadata!
}

/** Validates the whole archive and streams `library.db` into `destination`. */
export async function extractDatabase(
  archivePath: ArchiveInput,
  destination: string,
  options: Pick<ScanOptions, 'onProgress'> = {},
): Promise<ArchiveContents & {metadata: BackupMetadata}> {
  const result = await new ArchiveScan(archivePath, {...options, databaseDestination: destination}).run()
  return {...result, metadata: result.metadata!}
}

/**
 * One walk over an archive, enforcing every rule of the format. Nothing is extracted by a name
 * taken from the archive: `library.db` goes to the caller's fixed destination, everything else is
 * read past. The first broken rule is kept and reported; the walk stops right after it.
 */
export class ArchiveScan {
  private readonly state: ArchiveContents = {checksumVerified: false}
  private readonly seen = new Set<string>()
  private readonly hash = crypto.createHash('sha256')
  private failure: Error | undefined
  private finished = false
  private databaseFd: number | undefined
  private databaseHeaderSize: number | undefined
  private databaseWritten = 0
  /** library.db's writes, one after another on the threadpool while this thread inflates and hashes. */
  private writing: Promise<void> = Promise.resolve()
  private unwritten = 0

  constructor(
    private readonly input: ArchiveInput,
    private readonly options: ScanOptions,
  ) {}

  private get archivePath(): string {
    return inputPath(this.input)
  }

  async run(): Promise<ArchiveContents> {
    await assertGzipContainer(this.input)
    try {
      await this.walk()
    } finally {
      await this.writing
      this.closeDestination()
    }

    if (this.failure) throw this.failure
    if (this.options.headOnly && this.finished) return this.state
    return this.checkComplete()
  }

  private async walk(): Promise<void> {
    const {Parser} = tar()
    const parser = new Parser({strict: true, brotli: false, zstd: false})
    parser.on('error', (error: Error) => this.fail(`its tar structure is damaged (${error.message})`))
    parser.on('entry', (entry: ReadEntry) => this.onEntry(entry))
    // A bomb can hide in any member, known or not: stop once far more comes out than was declared.
    let inflated = 0
    try {
      const chunks = inflateFile(this.input, {
        chunkSize: this.options.headOnly ? 16 * 1024 : READ_CHUNK,
        // Listing wants the first member only: read no further ahead than that.
        concurrency: this.options.headOnly ? 1 : undefined,
        onRead: this.options.onProgress,
      })
      for await (const chunk of chunks) {
        inflated += chunk.length
        if (inflated > (this.state.metadata?.database_size_bytes ?? this.databaseHeaderSize ?? 0) + BOMB_SLACK) {
          this.fail('it decompresses to far more data than it declares')
        }

        if (this.failure || this.finished) break
        parser.write(chunk)
        if (this.failure || this.finished) break
        if (this.unwritten > MAX_UNWRITTEN) await this.writing
      }

      if (!this.failure && !this.finished) parser.end()
    } catch (error) {
      // An encrypted chunk that fails to authenticate is already named as what it is.
      if (error instanceof LibraryBackupError) this.failure ??= error
      else this.fail(describeGzipError(error as NodeJS.ErrnoException), error)
    }
  }

  private onEntry(entry: ReadEntry): void {
    const name = entry.path
    if (this.failure) {
      entry.resume()
    } else if (name.startsWith('/') || /^[A-Za-z]:/.test(name) || name.split(/[/\\]/).includes('..')) {
      this.fail(`it contains a member with an unsafe name (${JSON.stringify(name)})`)
    } else if (name !== METADATA_MEMBER && name !== DATABASE_MEMBER) {
      entry.resume() // unknown members are skipped, never extracted
    } else if (this.seen.has(name)) {
      this.fail(`${name} appears more than once`)
    } else if (REGULAR_TYPES.has(entry.type)) {
      this.seen.add(name)
      if (name === METADATA_MEMBER) this.readMetadata(entry)
      else this.readDatabase(entry)
      return
    } else {
      this.fail(`${name} is a ${entry.type}, not a regular file`)
    }

    entry.resume()
  }

  private readMetadata(entry: ReadEntry): void {
    if (entry.size > METADATA_MAX_BYTES) {
      this.fail(`${METADATA_MEMBER} is larger than 1 MiB`)
      entry.resume()
      return
    }

    const parts: Buffer[] = []
    entry.on('data', (data: Buffer) => parts.push(data))
    entry.on('end', () => {
      if (this.failure) return
      try {
        this.state.metadata = parseMetadata(Buffer.concat(parts), this.archivePath)
      } catch (error) {
        this.failure ??= error as Error
        return
      }

      if (this.databaseHeaderSize !== undefined) this.checkDeclaredSize(this.databaseHeaderSize)
      if (this.options.headOnly) this.finished = true
    })
  }

  private readDatabase(entry: ReadEntry): void {
    this.databaseHeaderSize = entry.size
    if (!this.checkDeclaredSize(entry.size) || this.options.headOnly) {
      // VPO's Python layout puts the database first: a head read stops here, without the metadata.
      this.finished = Boolean(this.options.headOnly)
      entry.resume()
      return
    }

    const limit = this.state.metadata?.database_size_bytes ?? entry.size
    if (this.options.databaseDestination) {
      try {
        this.databaseFd = fs.openSync(this.options.databaseDestination, 'wx', 0o600)
      } catch (error) {
        // The machine's problem (a read-only or full disk), not the archive's: kept raw for the
        // caller to name, as a failed write is.
        this.failure ??= error as Error
        entry.resume()
        return
      }
    }

    entry.on('data', (data: Buffer) => this.onDatabaseData(data, limit))
  }

  private onDatabaseData(data: Buffer, limit: number): void {
    if (this.failure) return
    this.databaseWritten += data.length
    if (this.databaseWritten > limit) {
      this.fail(`${DATABASE_MEMBER} grows past its declared size of ${limit} bytes`)
      return
    }

    if (this.databaseFd === undefined) return // reading for the metadata only: count, nothing more
    this.hash.update(data)
    const fd = this.databaseFd
    const position = this.databaseWritten - data.length
    this.unwritten += data.length
    this.writing = this.writing.then(async () => {
      try {
        if (!this.failure) await writeFully(fd, data, position)
      } catch (error) {
        this.failure ??= error as Error // ENOSPC and friends: the caller turns these into their exit codes
      } finally {
        this.unwritten -= data.length
      }
    })
  }

  private checkDeclaredSize(actual: number): boolean {
    const declared = this.state.metadata?.database_size_bytes
    if (declared === undefined || declared === actual) return true
    this.fail(`${DATABASE_MEMBER} holds ${actual} bytes but the metadata declares ${declared}`)
    return false
  }

  private checkComplete(): ArchiveContents {
    const {metadata} = this.state
    if (!metadata) throw invalidArchive(this.archivePath, `it has no ${METADATA_MEMBER}`)
    if (!this.seen.has(DATABASE_MEMBER)) throw invalidArchive(this.archivePath, `it has no ${DATABASE_MEMBER}`)
    if (this.databaseWritten !== metadata.database_size_bytes) {
      throw invalidArchive(
        this.archivePath,
        `${DATABASE_MEMBER} is cut short (${this.databaseWritten} of ${metadata.database_size_bytes} bytes)`,
      )
    }

    if (metadata.database_sha256 && this.options.databaseDestination) {
      if (this.hash.digest('hex') !== metadata.database_sha256) {
        throw invalidArchive(
          this.archivePath,
          `the checksum of ${DATABASE_MEMBER} does not match its metadata (the archive is corrupted)`,
        )
      }

      this.state.checksumVerified = true
    }

    return this.state
  }

  /** Not synced here: the caller decides when the copy must be durable (a dry run never does). */
  private closeDestination(): void {
    if (this.databaseFd !== undefined) fs.closeSync(this.databaseFd)
  }

  private fail(reason: string, cause?: unknown): void {
    this.failure ??= invalidArchive(this.archivePath, reason, cause)
  }
}

async function writeFully(fd: number, data: Buffer, position: number): Promise<void> {
  for (let done = 0; done < data.length;) {
    done += (await writeAt(fd, data, done, data.length - done, position + done)).bytesWritten
  }
}
