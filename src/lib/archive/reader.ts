import type {ReadEntry} from 'tar'

import crypto from 'node:crypto'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import {promisify} from 'node:util'

import {invalidArchive, LibraryBackupError} from '../errors.js'
import {GzipFormatError, inflateFile, inflateFirstMember, inflateMemberAt, readMemberLayout} from './gzip-members.js'
import {type BackupMetadata, DATABASE_MEMBER, METADATA_MAX_BYTES, METADATA_MEMBER, parseMetadata} from './metadata.js'
import {type ArchiveInput, inputPath, openArchiveBytes} from './source.js'
import {tar} from './tar-module.js'
import {type Progress} from './writer.js'

const READ_CHUNK = 1024 * 1024
const BLOCK = 512
/** Slack for unknown members and tar headers before a stream counts as a decompression bomb. */
const BOMB_SLACK = 16 * 1024 * 1024
const REGULAR_TYPES = new Set(['ContiguousFile', 'File', 'OldFile'])
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
class ArchiveScan {
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

/** Format detection by content, not by name: ZIP gets its own message. */
async function assertGzipContainer(input: ArchiveInput): Promise<void> {
  if (typeof input !== 'string') {
    const bytes = await openArchiveBytes(input)
    try {
      const magic = Buffer.alloc(4)
      assertGzipMagic(magic, (await bytes.read(magic, 0, 4, 0)).bytesRead, input.path)
    } finally {
      await bytes.close()
    }

    return
  }

  const archivePath = input
  let handle: fsp.FileHandle
  try {
    handle = await fsp.open(archivePath, 'r')
  } catch (error) {
    const {code} = error as NodeJS.ErrnoException
    if (code === 'ENOENT') {
      throw new LibraryBackupError('BACKUP_NOT_FOUND', `Backup file ${archivePath} does not exist`, {
        hint: 'Check the path (vpo library:backups lists your backups).',
      })
    }

    if (code === 'EISDIR') throw invalidArchive(archivePath, 'it is a directory, not a file')
    throw new LibraryBackupError('IO_ERROR', `Cannot read ${archivePath} (${(error as Error).message})`, {
      hint: 'Check its permissions.',
    })
  }

  try {
    if (!(await handle.stat()).isFile()) throw invalidArchive(archivePath, 'it is not a regular file')
    const magic = Buffer.alloc(4)
    assertGzipMagic(magic, (await handle.read(magic, 0, 4, 0)).bytesRead, archivePath)
  } finally {
    await handle.close()
  }
}

function assertGzipMagic(magic: Buffer, bytesRead: number, archivePath: string): void {
  if (bytesRead === 0) throw invalidArchive(archivePath, 'the file is empty')
  if (magic.toString('latin1', 0, 2) === 'PK') {
    throw new LibraryBackupError('UNSUPPORTED_ARCHIVE', `${archivePath} is a ZIP file, and ZIP is not supported`, {
      hint: 'VPO backups are .tar.gz archives made by vpo library:backup.',
    })
  }

  if (bytesRead < 2 || magic[0] !== 0x1f || magic[1] !== 0x8b) {
    throw new LibraryBackupError('UNSUPPORTED_ARCHIVE', `${archivePath} is not a gzip-compressed tar archive`, {
      hint: 'VPO backups are .tar.gz archives made by vpo library:backup.',
    })
  }
}

function describeGzipError(error: NodeJS.ErrnoException): string {
  if (error instanceof GzipFormatError) return error.message
  if (error.code === 'Z_BUF_ERROR' || /unexpected end/i.test(error.message))
    return 'the gzip data ends early (the file is truncated)'
  if (error.code === 'Z_DATA_ERROR') return `the gzip data is corrupted (${error.message})`
  return `it cannot be read (${error.message})`
}

/** How many bytes of an archive hold its metadata when this plugin wrote it: the stored first member. */
export const HEAD_BYTES = 64 * 1024

export interface ArchiveHead {
  metadata: BackupMetadata
  /** The tar bytes of the metadata member (header and padded content): where library.db's header starts. */
  metadataTarBytes: number
}

/**
 * The metadata from an archive's first bytes, when it is this plugin's layout (a stored first
 * member holding `backup_metadata.json`); undefined for any other layout, which must be read whole.
 */
export function readHead(head: Buffer, archiveName: string): ArchiveHead | undefined {
  let tarBytes: Buffer | undefined
  try {
    tarBytes = inflateFirstMember(head)
  } catch (error) {
    throw invalidArchive(archiveName, describeGzipError(error as NodeJS.ErrnoException), error)
  }

  if (!tarBytes || tarBytes.length < BLOCK) return undefined
  const {Header} = tar()
  const header = new Header(tarBytes.subarray(0, BLOCK))
  if (header.path !== METADATA_MEMBER || !REGULAR_TYPES.has(header.type ?? '') || header.size === undefined)
    return undefined
  if (!header.cksumValid)
    throw invalidArchive(archiveName, 'its tar structure is damaged (a header fails its checksum)')
  if (BLOCK + header.size > tarBytes.length) throw invalidArchive(archiveName, `${METADATA_MEMBER} is cut short`)
  const metadata = parseMetadata(tarBytes.subarray(BLOCK, BLOCK + header.size), archiveName)
  return {metadata, metadataTarBytes: BLOCK + roundUp(header.size)}
}

/**
 * Whether a local archive in this plugin's layout is whole: its members tile the file exactly and
 * inflate to the tar its metadata implies (a whole member missing or added changes that). Reads
 * member headers and trailers only. Returns the problem, or undefined.
 */
export async function structureProblem(archivePath: string, head: ArchiveHead): Promise<string | undefined> {
  const layout = await readMemberLayout(archivePath)
  if (layout.cutShort) return 'the file is truncated'
  if (layout.end < layout.fileSize) return 'it has bytes after the end of the archive, or a damaged gzip member'
  const size = head.metadata.database_size_bytes
  const expected = head.metadataTarBytes + BLOCK + roundUp(size) + 2 * BLOCK
  if (layout.inflatedBytes < expected) return 'the archive ends early (the file is truncated)'
  if (layout.inflatedBytes > expected) return 'it holds more data than its metadata declares'
  return undefined
}

function roundUp(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK
}

/**
 * `verify --quick`: the structure only. For this plugin's layout: the metadata, every member's
 * header and trailer, the database's tar header and the end-of-archive blocks, without inflating
 * the database. Any other layout has no index to walk, so it is read through (still without a
 * database check). Returns the metadata, or throws INVALID_ARCHIVE.
 */
export async function quickCheckArchive(archivePath: string): Promise<BackupMetadata> {
  await assertGzipContainer(archivePath)
  const handle = await fsp.open(archivePath, 'r')
  const headBytes = Buffer.alloc(HEAD_BYTES)
  const {bytesRead} = await handle.read(headBytes, 0, HEAD_BYTES, 0).finally(() => handle.close())
  const head = readHead(headBytes.subarray(0, bytesRead), archivePath)
  if (!head) return (await new ArchiveScan(archivePath, {}).run()).metadata!
  const problem = await structureProblem(archivePath, head)
  if (problem) throw invalidArchive(archivePath, problem)
  const layout = await readMemberLayout(archivePath)
  const bound = (index: number) => layout.offsets[index] ?? layout.end
  try {
    const databaseHeader = await inflateMemberAt(archivePath, bound(1), bound(2))
    const {Header} = tar()
    const header = new Header(databaseHeader.subarray(0, BLOCK))
    if (
      databaseHeader.length !== BLOCK ||
      !header.cksumValid ||
      header.path !== DATABASE_MEMBER ||
      !REGULAR_TYPES.has(header.type ?? '')
    ) {
      throw invalidArchive(archivePath, `its ${DATABASE_MEMBER} tar header is damaged`)
    }

    if (header.size !== head.metadata.database_size_bytes) {
      throw invalidArchive(
        archivePath,
        `${DATABASE_MEMBER} holds ${header.size} bytes but the metadata declares ${head.metadata.database_size_bytes}`,
      )
    }

    const ending = await inflateMemberAt(archivePath, bound(layout.members - 1), layout.end)
    if (ending.some((byte) => byte !== 0)) throw invalidArchive(archivePath, 'its end-of-archive blocks are damaged')
  } catch (error) {
    if (error instanceof GzipFormatError) throw invalidArchive(archivePath, error.message)
    throw error
  }

  return head.metadata
}
