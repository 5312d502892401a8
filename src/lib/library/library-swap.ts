import type Database from 'better-sqlite3'

import fs from 'node:fs'
import path from 'node:path'

import {LibraryBackupError} from '../errors.js'
import {fsyncDirectory} from '../fs/durable-files.js'
import {hasSqliteHeader, openDatabase} from './library-database.js'

/**
 * Replaces the library with a verified copy so that a crash at any instant leaves either the old
 * database or the new one, whole:
 *
 * 1. take the old database over: checkpoint its WAL into library.db and leave WAL mode, which
 *    SQLite allows only when no other connection has it open (a client that ignores the lock would
 *    otherwise keep writing into a file about to be replaced, and lose it all without an error);
 *    then hold an exclusive lock on it until the rename;
 * 2. remove its -wal, -shm and -journal: a stale WAL must never be replayed over the new file;
 * 3. rename the copy over library.db (atomic on one filesystem) and fsync the directory.
 *
 * Everything here is synchronous on purpose: no signal handler can run between the steps.
 */
export function checkpointAndSwap(databasePath: string, verifiedCopy: string): void {
  const old = fs.existsSync(databasePath) ? takeOver(databasePath) : undefined
  try {
    for (const suffix of ['-wal', '-shm', '-journal']) fs.rmSync(`${databasePath}${suffix}`, {force: true})
    fs.renameSync(verifiedCopy, databasePath)
  } catch (error) {
    throw new LibraryBackupError(
      'IO_ERROR',
      `Could not move the restored database into place at ${databasePath} (${(error as Error).message}); the previous library is still there, whole`,
      {
        cause: error,
        hint: 'Fix that, then restore again.',
      },
    )
  } finally {
    release(old)
  }

  fsyncDirectory(path.dirname(databasePath))
}

function takeOver(databasePath: string): Database.Database | undefined {
  // A file that is not a database (what a restore may be repairing) has no WAL worth keeping.
  if (!hasSqliteHeader(databasePath)) return undefined
  let db: Database.Database | undefined
  try {
    db = openDatabase(databasePath, {readonly: false})
    if (db.pragma('journal_mode', {simple: true}) === 'wal') {
      const [result] = db.pragma('wal_checkpoint(TRUNCATE)') as Array<{busy: number; checkpointed: number; log: number}>
      if (result.busy !== 0 || result.checkpointed !== result.log)
        throw inUse(databasePath, 'its pending changes cannot be saved')
      if (db.pragma('journal_mode = DELETE', {simple: true}) !== 'delete')
        throw inUse(databasePath, 'another connection has it open')
    }

    db.exec('BEGIN EXCLUSIVE')
    return db
  } catch (error) {
    db?.close()
    if (error instanceof LibraryBackupError) throw error
    const code = String((error as {code?: string}).code ?? '')
    if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'))
      throw inUse(databasePath, 'another connection has it open')
    // A damaged old database: nothing more can be saved from it, and it is being replaced anyway.
    if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) return undefined
    throw new LibraryBackupError(
      'IO_ERROR',
      `Could not prepare ${databasePath} for the restore (${(error as Error).message}); the library was not changed`,
      {
        cause: error,
        hint: 'Check that the file and its directory are writable, then try again.',
      },
    )
  }
}

function release(db: Database.Database | undefined): void {
  if (!db) return
  try {
    if (db.inTransaction) db.exec('ROLLBACK')
  } finally {
    db.close()
  }
}

function inUse(databasePath: string, why: string): LibraryBackupError {
  return new LibraryBackupError(
    'DATABASE_LOCKED',
    `The library ${databasePath} is in use by another process (${why}), so it was not replaced; the library was not changed`,
    {
      hint: 'Stop the VPO daemon and any other program using the library, then try again.',
    },
  )
}
