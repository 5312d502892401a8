/**
 * The backup archive format, version 1: a gzip-compressed tar whose root holds exactly
 * `backup_metadata.json` and `library.db`, regular files with mode 0600. VPO's Python tool writes
 * and reads the same format. This module is the only place that knows it.
 *
 * This plugin writes the metadata first (so a listing reads a few kilobytes) as a stored gzip
 * member, then the database as independent gzip members compressed in parallel. Readers accept
 * either member order, and never extract anything by a name taken from the archive.
 */
import crypto from 'node:crypto'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import zlib from 'node:zlib'
import {Header, Parser, type ReadEntry} from 'tar'

import {invalidArchive, LibraryBackupError} from './errors.js'
import {GzipFormatError, inflateFile, ParallelGzipWriter, storedMember, writeFully} from './gzip-members.js'

export const METADATA_MEMBER = 'backup_metadata.json'
export const DATABASE_MEMBER = 'library.db'
export const METADATA_MAX_BYTES = 1024 * 1024
const BLOCK = 512
const READ_CHUNK = 1024 * 1024
/** Uncompressed bytes per gzip member of the database. */
const MEMBER_SIZE = 2 * 1024 * 1024
/** Level 5: within half a percent of level 6's ratio on VPO libraries, a quarter less CPU (npm run bench). */
const COMPRESSION_LEVEL = 5

export interface BackupMetadata {
  vpo_version: string
  schema_version: number
  created_at: string
  database_size_bytes: number
  file_count: number
  total_library_size_bytes: number
  compression: 'gzip'
  /** Absent in archives made by VPO's Python tool. */
  database_sha256?: string
}

export type Progress = (doneBytes: number, totalBytes: number) => void

// ---------------------------------------------------------------------------------------------
// Writing

export interface WriteArchiveOptions {
  /** Created exclusively with mode 0600; the caller renames it into place. */
  archivePath: string
  /** The snapshot to store as `library.db`. */
  databasePath: string
  /** Everything the metadata says except the size and checksum, which are measured here. */
  describe: Omit<BackupMetadata, 'database_sha256' | 'database_size_bytes' | 'compression'>
  onProgress?: Progress
}

export async function writeArchive(options: WriteArchiveOptions): Promise<{archiveSizeBytes: number; metadata: BackupMetadata}> {
  const databaseSize = (await fsp.stat(options.databasePath)).size
  const metadataFor = (sha256: string): BackupMetadata => ({
    ...options.describe,
    database_size_bytes: databaseSize,
    compression: 'gzip',
    database_sha256: sha256,
  })
  // The checksum is only known once the database has streamed through, but the metadata comes
  // first: its tar bytes have a fixed length (the checksum is always 64 hex digits) and a stored
  // gzip member of a given length has a fixed size, so reserve that room and fill it in last.
  const placeholder = metadataMember(metadataFor('0'.repeat(64)))
  const reserved = storedMember(placeholder).length

  const out = await fsp.open(options.archivePath, 'wx', 0o600)
  try {
    const gzip = new ParallelGzipWriter(out, {level: COMPRESSION_LEVEL, position: reserved})
    const hash = crypto.createHash('sha256')
    await gzip.addMember(tarHeader(DATABASE_MEMBER, databaseSize))
    const input = await fsp.open(options.databasePath, 'r')
    try {
      // Each chunk read becomes one gzip member as it is: no copying on the main thread, which
      // has the checksum to compute while the threadpool compresses.
      let done = 0
      while (done < databaseSize) {
        const chunk = Buffer.allocUnsafe(Math.min(MEMBER_SIZE, databaseSize - done))
        const {bytesRead} = await input.read(chunk, 0, chunk.length, done)
        if (bytesRead === 0) throw new Error(`${options.databasePath} shrank while it was being archived`)
        const data = chunk.subarray(0, bytesRead)
        hash.update(data)
        await gzip.addMember(data)
        done += bytesRead
        options.onProgress?.(done, databaseSize)
      }
    } finally {
      await input.close()
    }

    await gzip.addMember(Buffer.alloc(padding(databaseSize) + 2 * BLOCK)) // end of archive: two zero blocks
    const archiveSizeBytes = await gzip.finish()
    const metadata = metadataFor(hash.digest('hex'))
    const head = storedMember(metadataMember(metadata))
    if (head.length !== reserved) throw new Error('metadata member changed size; this is a bug')
    await writeFully(out, head, 0)
    await out.sync()
    return {archiveSizeBytes, metadata}
  } finally {
    await out.close()
  }
}

function metadataMember(metadata: BackupMetadata): Buffer {
  const json = Buffer.from(JSON.stringify(metadata, null, 2) + '\n')
  return Buffer.concat([tarHeader(METADATA_MEMBER, json.length), json, Buffer.alloc(padding(json.length))])
}

function tarHeader(name: string, size: number): Buffer {
  const block = Buffer.alloc(BLOCK)
  new Header({path: name, mode: 0o600, size, mtime: new Date(), type: 'File', uid: 0, gid: 0, uname: '', gname: ''}).encode(block, 0)
  return block
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK
}


/**
 * A dry run's guess at the archive size: compress evenly spaced samples of the database at the
 * level a real backup uses, and allow for the samples not being the whole file.
 */
export async function estimateArchiveSize(databasePath: string, databaseSize: number): Promise<{high: number; low: number}> {
  const sampleSize = 256 * 1024
  const samples = Math.max(1, Math.min(16, Math.floor(databaseSize / sampleSize)))
  const file = await fsp.open(databasePath, 'r')
  let raw = 0
  let compressed = 0
  try {
    for (let i = 0; i < samples; i++) {
      const buffer = Buffer.alloc(sampleSize)
      const {bytesRead} = await file.read(buffer, 0, sampleSize, Math.floor((i * databaseSize) / samples))
      raw += bytesRead
      compressed += zlib.gzipSync(buffer.subarray(0, bytesRead), {level: COMPRESSION_LEVEL}).length
    }
  } finally {
    await file.close()
  }

  const estimate = raw === 0 ? 0 : (databaseSize * compressed) / raw
  return {low: Math.round(estimate * 0.85), high: Math.round(estimate * 1.15)}
}

// ---------------------------------------------------------------------------------------------
// Reading

export function parseMetadata(raw: Buffer, archivePath: string): BackupMetadata {
  let value: unknown
  try {
    value = JSON.parse(raw.toString('utf8'))
  } catch {
    throw invalidArchive(archivePath, `${METADATA_MEMBER} is not valid JSON`)
  }

  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidArchive(archivePath, `${METADATA_MEMBER} is not a JSON object`)
  }

  const record = value as Record<string, unknown>
  const fail = (field: string, expected: string) =>
    invalidArchive(archivePath, `${METADATA_MEMBER} field "${field}" is missing or not ${expected}`)
  if (typeof record.vpo_version !== 'string') throw fail('vpo_version', 'a string')
  if (!isCount(record.schema_version) || record.schema_version === 0) throw fail('schema_version', 'a positive integer')
  if (typeof record.created_at !== 'string' || !isCreatedAt(record.created_at)) {
    throw fail('created_at', 'a UTC time like 2026-02-05T14:30:22Z')
  }

  for (const field of ['database_size_bytes', 'file_count', 'total_library_size_bytes']) {
    if (!isCount(record[field])) throw fail(field, 'an integer of 0 or more')
  }

  if (record.compression !== 'gzip') throw fail('compression', '"gzip"')
  if (record.database_sha256 !== undefined && (typeof record.database_sha256 !== 'string' || !/^[\da-f]{64}$/i.test(record.database_sha256))) {
    throw fail('database_sha256', '64 hexadecimal digits')
  }

  return {
    vpo_version: record.vpo_version,
    schema_version: record.schema_version as number,
    created_at: record.created_at,
    database_size_bytes: record.database_size_bytes as number,
    file_count: record.file_count as number,
    total_library_size_bytes: record.total_library_size_bytes as number,
    compression: 'gzip',
    ...(record.database_sha256 === undefined ? {} : {database_sha256: (record.database_sha256 as string).toLowerCase()}),
  }
}

function isCount(value: unknown): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

function isCreatedAt(text: string): boolean {
  // Python's isoformat may add fractions of a second or write +00:00 for Z.
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|\+00:00)$/.test(text)) return false
  return !Number.isNaN(Date.parse(text))
}

/** What a reader learned. `databaseSizeBytes` comes from the tar header when the metadata has not. */
export interface ArchiveContents {
  metadata?: BackupMetadata
  databaseSizeBytes?: number
  /** True when `library.db` was streamed, sized and (when the metadata has one) checksummed. */
  databaseExtracted: boolean
  checksumVerified: boolean
}

interface ScanOptions {
  /** Stream `library.db` into this file (created exclusively, mode 0600). */
  databaseDestination?: string
  /** Stop once the metadata is read, if it comes first (listing and inspection). */
  headOnly?: boolean
  onProgress?: Progress
}

/** Reads just the metadata, or the database's size when VPO's Python layout puts it first. */
export async function readArchiveHead(archivePath: string): Promise<ArchiveContents> {
  return scanArchive(archivePath, {headOnly: true})
}

/** Reads the metadata wherever it is in the archive (the whole archive for VPO's Python layout). */
export async function readArchiveMetadata(archivePath: string): Promise<BackupMetadata> {
  const head = await readArchiveHead(archivePath)
  if (head.metadata) return head.metadata
  const whole = await scanArchive(archivePath, {})
  if (!whole.metadata) throw invalidArchive(archivePath, `it has no ${METADATA_MEMBER}`)
  return whole.metadata
}

/** Validates the whole archive and streams `library.db` into `destination`. */
export async function extractDatabase(
  archivePath: string,
  destination: string,
  options: Pick<ScanOptions, 'onProgress'> = {},
): Promise<ArchiveContents & {metadata: BackupMetadata}> {
  const result = await scanArchive(archivePath, {...options, databaseDestination: destination})
  if (!result.metadata) throw invalidArchive(archivePath, `it has no ${METADATA_MEMBER}`)
  return {...result, metadata: result.metadata}
}

async function assertGzipContainer(archivePath: string): Promise<number> {
  let handle: fsp.FileHandle
  try {
    handle = await fsp.open(archivePath, 'r')
  } catch (error) {
    const {code} = (error as NodeJS.ErrnoException)
    if (code === 'ENOENT') {
      throw new LibraryBackupError('BACKUP_NOT_FOUND', `Backup file ${archivePath} does not exist; check the path (vpo library:backups lists your backups).`)
    }

    if (code === 'EISDIR') throw invalidArchive(archivePath, 'it is a directory, not a file')
    throw new LibraryBackupError('IO_ERROR', `Cannot read ${archivePath} (${(error as Error).message}); check its permissions.`)
  }

  try {
    const stats = await handle.stat()
    if (!stats.isFile()) throw invalidArchive(archivePath, 'it is not a regular file')
    const magic = Buffer.alloc(4)
    const {bytesRead} = await handle.read(magic, 0, 4, 0)
    if (bytesRead === 0) throw invalidArchive(archivePath, 'the file is empty')
    if (magic.subarray(0, 2).toString('latin1') === 'PK') {
      throw new LibraryBackupError(
        'UNSUPPORTED_ARCHIVE',
        `${archivePath} is a ZIP file, and ZIP is not supported; VPO backups are .tar.gz archives made by vpo library:backup.`,
      )
    }

    if (bytesRead < 2 || magic[0] !== 0x1f || magic[1] !== 0x8b) {
      throw new LibraryBackupError(
        'UNSUPPORTED_ARCHIVE',
        `${archivePath} is not a gzip-compressed tar archive; VPO backups are .tar.gz archives made by vpo library:backup.`,
      )
    }

    return stats.size
  } finally {
    await handle.close()
  }
}

const REGULAR_TYPES = new Set(['File', 'OldFile', 'ContiguousFile'])

/** The one walk over an archive that every reader uses, enforcing every rule of the format. */
async function scanArchive(archivePath: string, options: ScanOptions): Promise<ArchiveContents> {
  await assertGzipContainer(archivePath)
  const state: ArchiveContents = {databaseExtracted: false, checksumVerified: false}
  const seen = new Set<string>()
  let failure: Error | undefined
  let finished = false
  let databaseWritten = 0
  let databaseHeaderSize: number | undefined
  let databaseFd: number | undefined
  const hash = crypto.createHash('sha256')

  const fail = (error: Error) => {
    failure ??= error
  }

  const parser = new Parser({strict: true, brotli: false, zstd: false})
  parser.on('error', (error: Error) => fail(invalidArchive(archivePath, `its tar structure is damaged (${error.message})`)))
  parser.on('entry', (entry: ReadEntry) => {
    if (failure) return entry.resume()
    const name = entry.path
    if (name.startsWith('/') || /^[A-Za-z]:/.test(name) || name.split(/[/\\]/).includes('..')) {
      fail(invalidArchive(archivePath, `it contains a member with an unsafe name (${JSON.stringify(name)})`))
      return entry.resume()
    }

    if (name !== METADATA_MEMBER && name !== DATABASE_MEMBER) return entry.resume() // unknown: skipped, never extracted
    if (seen.has(name)) {
      fail(invalidArchive(archivePath, `${name} appears more than once`))
      return entry.resume()
    }

    seen.add(name)
    if (!REGULAR_TYPES.has(entry.type)) {
      fail(invalidArchive(archivePath, `${name} is a ${entry.type}, not a regular file`))
      return entry.resume()
    }

    if (name === METADATA_MEMBER) readMetadataEntry(entry)
    else readDatabaseEntry(entry)
  })

  const readMetadataEntry = (entry: ReadEntry) => {
    if (entry.size > METADATA_MAX_BYTES) {
      fail(invalidArchive(archivePath, `${METADATA_MEMBER} is larger than 1 MiB`))
      return entry.resume()
    }

    const parts: Buffer[] = []
    entry.on('data', (data: Buffer) => parts.push(data))
    entry.on('end', () => {
      if (failure) return
      try {
        state.metadata = parseMetadata(Buffer.concat(parts), archivePath)
        if (databaseHeaderSize !== undefined && databaseHeaderSize !== state.metadata.database_size_bytes) {
          fail(sizeMismatch(databaseHeaderSize, state.metadata.database_size_bytes))
        }

        if (options.headOnly) finished = true
      } catch (error) {
        fail(error as Error)
      }
    })
  }

  const sizeMismatch = (actual: number, declared: number) =>
    invalidArchive(archivePath, `${DATABASE_MEMBER} holds ${actual} bytes but the metadata declares ${declared}`)

  const readDatabaseEntry = (entry: ReadEntry) => {
    databaseHeaderSize = entry.size
    state.databaseSizeBytes = entry.size
    const declared = state.metadata?.database_size_bytes
    if (declared !== undefined && declared !== entry.size) {
      fail(sizeMismatch(entry.size, declared))
      return entry.resume()
    }

    if (options.headOnly) {
      // VPO's Python layout puts the database first: its size is what a space check needs.
      finished = true
      return entry.resume()
    }

    const limit = declared ?? entry.size
    if (options.databaseDestination) databaseFd = fs.openSync(options.databaseDestination, 'wx', 0o600)
    entry.on('data', (data: Buffer) => {
      if (failure) return
      databaseWritten += data.length
      if (databaseWritten > limit) {
        fail(invalidArchive(archivePath, `${DATABASE_MEMBER} grows past its declared size of ${limit} bytes`))
        return
      }

      hash.update(data)
      if (databaseFd !== undefined) {
        try {
          fs.writeSync(databaseFd, data)
        } catch (error) {
          fail(error as Error)
        }
      }
    })
  }

  // A bomb hides in any member, known or not: stop once far more comes out than was declared.
  let inflated = 0
  const inflateLimit = () => (state.metadata?.database_size_bytes ?? databaseHeaderSize ?? 0) + 64 * 1024 * 1024
  try {
    const chunks = inflateFile(archivePath, {
      chunkSize: options.headOnly ? 16 * 1024 : READ_CHUNK,
      // Listing wants the first member only: read no further ahead than that.
      concurrency: options.headOnly ? 1 : undefined,
      onRead: (offset, size) => options.onProgress?.(offset, size),
    })
    for await (const chunk of chunks) {
      inflated += chunk.length
      if (inflated > inflateLimit()) fail(invalidArchive(archivePath, 'it decompresses to far more data than it declares'))
      if (failure || finished) break
      parser.write(chunk)
      if (failure || finished) break
    }

    if (!failure && !finished) parser.end()
  } catch (error) {
    fail(invalidArchive(archivePath, describeGzipError(error as NodeJS.ErrnoException), error))
  } finally {
    if (databaseFd !== undefined) {
      if (!failure) {
        try {
          fs.fsyncSync(databaseFd)
        } catch (error) {
          fail(error as Error)
        }
      }

      fs.closeSync(databaseFd)
    }
  }

  if (failure) throw failure
  if (options.headOnly && finished) return state

  if (!seen.has(METADATA_MEMBER) || !state.metadata) throw invalidArchive(archivePath, `it has no ${METADATA_MEMBER}`)
  if (!seen.has(DATABASE_MEMBER)) throw invalidArchive(archivePath, `it has no ${DATABASE_MEMBER}`)
  if (options.headOnly) return state
  if (databaseWritten !== state.metadata.database_size_bytes) {
    throw invalidArchive(archivePath, `${DATABASE_MEMBER} is cut short (${databaseWritten} of ${state.metadata.database_size_bytes} bytes)`)
  }

  state.databaseExtracted = true
  if (state.metadata.database_sha256) {
    if (hash.digest('hex') !== state.metadata.database_sha256) {
      throw invalidArchive(archivePath, `the checksum of ${DATABASE_MEMBER} does not match its metadata (the archive is corrupted)`)
    }

    state.checksumVerified = true
  }

  return state
}

function describeGzipError(error: NodeJS.ErrnoException): string {
  if (error instanceof GzipFormatError) return error.message
  if (error.code === 'Z_BUF_ERROR' || /unexpected end/i.test(error.message)) return 'the gzip data ends early (the file is truncated)'
  if (error.code === 'Z_DATA_ERROR') return `the gzip data is corrupted (${error.message})`
  return `it cannot be read (${error.message})`
}
