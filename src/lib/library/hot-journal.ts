import type Database from 'better-sqlite3'

import fs from 'node:fs'
import path from 'node:path'

import {fromSystemError, LibraryBackupError} from '../errors.js'
import {giveTo} from '../fs/ownership.js'
import {removeTemp, tempPathIn} from '../fs/temp-files.js'
import {assertLibraryExists, fromSqliteError, openDatabase, openDisposableCopy} from './library-database.js'

/** The first 8 bytes of a rollback journal that still holds the pages to put back. */
const JOURNAL_MAGIC = Buffer.from([0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7])
const SIDECARS = ['-journal', '-wal', '-shm']

/**
 * A writer killed in the middle of a transaction (a restore's swap killed with -9, a daemon that
 * lost power) leaves a hot -journal: library.db may hold half of that transaction, and only the
 * journal can put it back. A read-only connection is not allowed to, so the backup would fail.
 * Called with the library lock held: the brief read-write open lets SQLite roll the journal back,
 * as it would for any writer, which leaves the last committed state, exactly what the user had.
 * The journal is never removed by hand: that would leave the half-written pages in place.
 */
export function rollBackHotJournal(databasePath: string): void {
  if (!hasHotJournalHeader(`${databasePath}-journal`)) return
  assertLibraryExists(databasePath)
  const library = fs.statSync(databasePath)
  const before = new Set(SIDECARS.filter((suffix) => fs.existsSync(`${databasePath}${suffix}`)))
  try {
    const db = openDatabase(databasePath, {readonly: false})
    try {
      // The first read takes a shared lock, which is when SQLite finds the journal and plays it back.
      db.prepare('SELECT COUNT(*) FROM sqlite_master').get()
    } finally {
      db.close()
    }
  } catch (error) {
    throw cannotRollBack(error, databasePath)
  } finally {
    // A sudo run must not leave root-owned files beside the daemon's library.
    const owner = process.getuid?.() === 0 ? {uid: library.uid, gid: library.gid} : undefined
    for (const suffix of SIDECARS) {
      if (!before.has(suffix) && fs.existsSync(`${databasePath}${suffix}`)) giveTo(`${databasePath}${suffix}`, owner)
    }
  }
}

/**
 * What `library:backup --dry-run` reads when the library has a hot journal: a private copy of
 * library.db and its journal, beside it (where the real backup needs room for its snapshot
 * anyway), rolled back as the real backup will roll back the library. The preview then shows the
 * state that would be archived, and the library and its journal are not touched: a dry run changes
 * nothing. Undefined when there is no hot journal. Closing the connection removes the copy.
 */
export function openRolledBackCopy(databasePath: string): undefined | {db: Database.Database; path: string} {
  if (!hasHotJournalHeader(`${databasePath}-journal`)) return undefined
  assertLibraryExists(databasePath)
  const copy = tempPathIn(path.dirname(databasePath), 'preview.db')
  try {
    // A reflink where the filesystem has them (btrfs, XFS): a library of gigabytes is not copied.
    // eslint-disable-next-line no-bitwise -- copyFile's mode is a bit mask
    const exclusive = fs.constants.COPYFILE_EXCL | fs.constants.COPYFILE_FICLONE
    fs.copyFileSync(databasePath, copy, exclusive)
    fs.chmodSync(copy, 0o600)
    fs.copyFileSync(`${databasePath}-journal`, `${copy}-journal`, exclusive)
  } catch (error) {
    removeTemp(copy)
    // A read-only filesystem is what the real backup would fail on too, and says so the same way.
    if ((error as NodeJS.ErrnoException).code === 'EROFS') throw cannotRollBack(error, databasePath)
    throw fromSystemError(
      error,
      `copying ${databasePath} beside it, to preview the rollback of its unfinished transaction`,
    )
  }

  try {
    const db = openDisposableCopy(copy, {readonly: false})
    try {
      db.prepare('SELECT COUNT(*) FROM sqlite_master').get() // the rollback, as in rollBackHotJournal
    } catch (error) {
      db.close()
      throw error
    }

    return {db, path: copy}
  } catch (error) {
    removeTemp(copy)
    throw cannotRollBack(error, databasePath)
  }
}

function hasHotJournalHeader(journalPath: string): boolean {
  let fd: number
  try {
    fd = fs.openSync(journalPath, 'r')
  } catch {
    return false // none, or not ours to read: SQLite will say what is wrong
  }

  try {
    const head = Buffer.alloc(JOURNAL_MAGIC.length)
    return fs.readSync(fd, head, 0, head.length, 0) === head.length && head.equals(JOURNAL_MAGIC)
  } finally {
    fs.closeSync(fd)
  }
}

function cannotRollBack(error: unknown, databasePath: string): LibraryBackupError {
  const code = String((error as {code?: string}).code ?? '')
  const readOnly =
    code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_CANTOPEN') || isReadOnlyDir(databasePath)
  if (!readOnly) return fromSqliteError(error, databasePath, 'rolling back the unfinished transaction in')
  return new LibraryBackupError(
    'IO_ERROR',
    `The library ${databasePath} has an unfinished transaction (${databasePath}-journal) that SQLite must roll back before it can be read, and that cannot be done on a read-only filesystem`,
    {
      cause: error,
      hint: 'Mount it read-write, or copy library.db with its -journal to a writable disk and pass --db; never delete the -journal.',
    },
  )
}

function isReadOnlyDir(databasePath: string): boolean {
  try {
    fs.accessSync(databasePath, fs.constants.W_OK)
    return false
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EROFS'
  }
}
