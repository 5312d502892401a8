import type Database from 'better-sqlite3'

import fs from 'node:fs'
import {createRequire} from 'node:module'
import os from 'node:os'
import path from 'node:path'

import {type ExactInteger, exactInteger} from '../archive/exact-json.js'
import {LibraryBackupError} from '../errors.js'
import {removeTemp, tempPathIn} from '../fs/temp-files.js'

/** What a backup's metadata says about the library inside it. */
export interface LibraryStats {
  schemaVersion: number
  fileCount: ExactInteger
  totalLibrarySizeBytes: ExactInteger
}

/** How long to wait on SQLite's own locks before reporting the library as busy. */
const BUSY_TIMEOUT_MS = 2000
const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1')

/**
 * A database up to this size is read through a memory map instead of one pread per 4 KiB page (a
 * snapshot, quick_check and the statistics each read every page: 25,000 system calls apiece for a
 * 100 MB library). Mapped pages count toward the process's RSS, so a larger database is read as
 * before: mapping only its start would cost as much memory for a fraction of the gain.
 * VPO_BACKUP_MMAP_BYTES overrides the limit; 0 turns memory maps off, for a disk or share that may
 * fail under it: a read error in a mapped file is SIGBUS, not an error SQLite can report.
 */
const MMAP_LIMIT = 128 * 1024 * 1024

let SqliteDatabase: typeof Database | undefined
/** better-sqlite3 loads its native addon on first use only, so `--help` and listings stay quick. */
export function openDatabase(file: string, options: {readonly: boolean}): Database.Database {
  SqliteDatabase ??= createRequire(import.meta.url)('better-sqlite3') as typeof Database
  const db = new SqliteDatabase(file, {fileMustExist: true, readonly: options.readonly, timeout: BUSY_TIMEOUT_MS})
  const mmap = mmapPragma(file)
  if (mmap) db.pragma(mmap)
  return db
}

/** The mmap_size pragma for `file`, or undefined when it is read without a memory map. */
export function mmapPragma(file: string): string | undefined {
  const limit = mmapLimit()
  return limit > 0 && fs.statSync(file).size <= limit ? `mmap_size = ${limit}` : undefined
}

function mmapLimit(): number {
  const override = Number.parseInt(process.env.VPO_BACKUP_MMAP_BYTES ?? '', 10)
  return Number.isSafeInteger(override) && override >= 0 ? override : MMAP_LIMIT
}

export function assertLibraryExists(databasePath: string): void {
  let stats: fs.Stats
  try {
    stats = fs.statSync(databasePath)
  } catch {
    throw new LibraryBackupError('DATABASE_NOT_FOUND', `No VPO library database at ${databasePath}`, {
      hint: 'Pass --db PATH, or set VPO_DATA_DIR to the directory that holds library.db.',
    })
  }

  if (!stats.isFile()) {
    throw new LibraryBackupError('NOT_A_LIBRARY', `${databasePath} is not a file`, {
      hint: 'Pass --db with the path of library.db.',
    })
  }
}

export function hasSqliteHeader(filePath: string): boolean {
  const fd = fs.openSync(filePath, 'r')
  try {
    const head = Buffer.alloc(SQLITE_MAGIC.length)
    const read = fs.readSync(fd, head, 0, head.length, 0)
    return read === head.length && head.equals(SQLITE_MAGIC)
  } finally {
    fs.closeSync(fd)
  }
}

/**
 * Opens the live library read-only: a read-only connection never checkpoints on close, so the
 * user's database file is left byte for byte as it was, while committed WAL content is still seen.
 */
export function openLiveLibrary(databasePath: string): Database.Database {
  assertLibraryExists(databasePath)
  if (!hasSqliteHeader(databasePath)) throw notALibrary(databasePath, 'it is not a SQLite database')
  try {
    return needsPrivateCopy(databasePath) ? openPrivateCopy(databasePath) : openDatabase(databasePath, {readonly: true})
  } catch (error) {
    throw fromSqliteError(error, databasePath, 'opening')
  }
}

/**
 * A WAL library on a read-only filesystem without its -shm: SQLite cannot read the WAL there, and
 * opening it immutable would drop the commits still in the WAL. Nothing can write it either, so a
 * copy of the file and its WAL is the same library. (A directory that is merely not ours may have
 * a writer, whose commits a copy could tear: that stays SQLite's error.)
 */
function needsPrivateCopy(databasePath: string): boolean {
  if (fs.existsSync(`${databasePath}-shm`) || !isWalMode(databasePath)) return false
  try {
    fs.accessSync(path.dirname(databasePath), fs.constants.W_OK)
    return false
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EROFS'
  }
}

/** The header's read and write versions are 2 in WAL mode. */
function isWalMode(databasePath: string): boolean {
  const fd = fs.openSync(databasePath, 'r')
  try {
    const versions = Buffer.alloc(2)
    fs.readSync(fd, versions, 0, 2, 18)
    return versions[0] === 2 || versions[1] === 2
  } finally {
    fs.closeSync(fd)
  }
}

function openPrivateCopy(databasePath: string): Database.Database {
  const copy = tempPathIn(os.tmpdir(), 'library.db')
  fs.copyFileSync(databasePath, copy)
  if (fs.existsSync(`${databasePath}-wal`)) fs.copyFileSync(`${databasePath}-wal`, `${copy}-wal`)
  fs.chmodSync(copy, 0o600)
  return openDisposableCopy(copy, {readonly: true})
}

/** Opens a private copy of the library; closing the connection removes the copy and its sidecars. */
export function openDisposableCopy(copy: string, options: {readonly: boolean}): Database.Database {
  const db = openDatabase(copy, options)
  const close = db.close.bind(db)
  db.close = () => {
    close()
    removeTemp(copy)
    return db
  }

  return db
}

/** Opens a copy we own (a snapshot or an extracted restore) read-write so closing cleans its sidecars. */
export function openCopy(copyPath: string): Database.Database {
  return openDatabase(copyPath, {readonly: false})
}

/** The schema version, or NOT_A_LIBRARY when the file is SQLite but not VPO's library. */
export function readSchemaVersion(db: Database.Database, databasePath: string): number {
  try {
    const tables = new Set(
      (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{name: string}>).map(
        (row) => row.name,
      ),
    )
    if (!tables.has('_meta') || !tables.has('files')) {
      throw notALibrary(databasePath, 'it has no _meta or files table')
    }

    const meta = db.prepare("SELECT value FROM _meta WHERE key = 'schema_version'").get() as
      undefined | {value: unknown}
    const schemaVersion = Number.parseInt(String(meta?.value ?? ''), 10)
    if (!Number.isInteger(schemaVersion) || schemaVersion <= 0) {
      throw notALibrary(databasePath, 'its _meta table has no valid schema_version')
    }

    return schemaVersion
  } catch (error) {
    throw fromSqliteError(error, databasePath, 'reading')
  }
}

export function readLibraryStats(db: Database.Database, databasePath: string): LibraryStats {
  const schemaVersion = readSchemaVersion(db, databasePath)
  try {
    // Sums past 2^53 (a big library of 4K remuxes) must stay exact: read them as bigint.
    const totals = db
      .prepare('SELECT COUNT(*) AS fileCount, COALESCE(SUM(size_bytes), 0) AS totalSize FROM files')
      .safeIntegers(true)
      .get() as {
      fileCount: bigint
      totalSize: bigint
    }
    return {
      schemaVersion,
      fileCount: exactInteger(totals.fileCount),
      totalLibrarySizeBytes: exactInteger(totals.totalSize),
    }
  } catch (error) {
    throw fromSqliteError(error, databasePath, 'reading')
  }
}

/**
 * Copies the whole database, WAL content included, in one step of SQLite's online backup API:
 * one read transaction, so a writer committing meanwhile can neither tear the copy nor force the
 * endless restarts that a page-by-page backup suffers under constant writes.
 */
export async function snapshotLibrary(
  live: Database.Database,
  databasePath: string,
  snapshotPath: string,
): Promise<void> {
  try {
    // Created here, private, before SQLite opens it: SQLite would create it world-readable.
    fs.writeFileSync(snapshotPath, '', {flag: 'wx', mode: 0o600})
    await live.backup(snapshotPath, {progress: () => 0x7f_ff_ff_ff})
  } catch (error) {
    throw fromSqliteError(error, databasePath, 'taking a snapshot of')
  }
}

/** SQLite's fast structural check; returns the first problem, or undefined when the file is sound. */
export function quickCheck(db: Database.Database): string | undefined {
  return describeQuickCheck(db.pragma('quick_check') as Array<{quick_check: string}>)
}

/** The first problem in quick_check's rows, or undefined when they say the file is sound. */
export function describeQuickCheck(rows: Array<{quick_check: string}>): string | undefined {
  const first = rows[0]?.quick_check ?? 'no result'
  if (first === 'ok') return undefined
  // SQLite can pack a hundred findings into one row: the first one says enough.
  const findings = first.split('\n').filter((line) => line.trim() && !line.startsWith('***'))
  return findings.length > 1 ? `${findings[0]}, and ${findings.length - 1} more problems` : (findings[0] ?? first)
}

function notALibrary(databasePath: string, why: string): LibraryBackupError {
  return new LibraryBackupError('NOT_A_LIBRARY', `${databasePath} is not a VPO library (${why})`, {
    hint: "Pass --db with the path of VPO's library.db.",
  })
}

export function fromSqliteError(error: unknown, databasePath: string, doing: string): LibraryBackupError {
  if (error instanceof LibraryBackupError) return error
  const err = error as {code?: string; message?: string}
  const code = err.code ?? ''
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new LibraryBackupError(
      'DATABASE_LOCKED',
      `The library ${databasePath} is busy (another process holds a SQLite lock on it)`,
      {
        cause: error,
        hint: 'Stop the VPO daemon or wait for it to finish, then try again.',
      },
    )
  }

  if (code.startsWith('SQLITE_READONLY')) {
    return new LibraryBackupError(
      'IO_ERROR',
      `The library ${databasePath} has an unfinished transaction (${databasePath}-journal) that must be rolled back first`,
      {
        cause: error,
        hint: `Start VPO once (or run: sqlite3 "${databasePath}" "PRAGMA quick_check"), then try again.`,
      },
    )
  }

  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) {
    return notALibrary(databasePath, `SQLite says: ${err.message}`)
  }

  if (code.startsWith('SQLITE_FULL') || code === 'SQLITE_IOERR_WRITE' || /disk is full/i.test(err.message ?? '')) {
    return new LibraryBackupError('INSUFFICIENT_SPACE', `The disk filled up while ${doing} ${databasePath}`, {
      cause: error,
      hint: 'Free some space and try again.',
    })
  }

  return new LibraryBackupError('IO_ERROR', `SQLite failed while ${doing} ${databasePath} (${err.message})`, {
    cause: error,
    hint: 'Check that the file is readable and the disk healthy, then try again.',
  })
}
