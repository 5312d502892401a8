import Database from 'better-sqlite3'
import fs from 'node:fs'
import path from 'node:path'

import {fsyncDirectory} from './durable-files.js'
import {LibraryBackupError} from './errors.js'
import {hasSqliteHeader} from './library-database.js'

/**
 * Replaces the library with a verified copy so that a crash at any instant leaves either the old
 * database or the new one, whole:
 *
 * 1. checkpoint the old database, so everything it holds is in library.db itself;
 * 2. remove its -wal, -shm and -journal: a stale WAL must never be replayed over the new file;
 * 3. rename the copy over library.db (atomic on one filesystem) and fsync the directory.
 *
 * Everything here is synchronous on purpose: no signal handler can run between the steps.
 */
export function checkpointAndSwap(databasePath: string, verifiedCopy: string): void {
  if (fs.existsSync(databasePath)) checkpoint(databasePath)
  try {
    for (const suffix of ['-wal', '-shm', '-journal']) fs.rmSync(`${databasePath}${suffix}`, {force: true})
    fs.renameSync(verifiedCopy, databasePath)
  } catch (error) {
    throw new LibraryBackupError(
      'IO_ERROR',
      `Could not move the restored database into place at ${databasePath} (${(error as Error).message}); the previous library is still there, whole.`,
      {cause: error},
    )
  }

  fsyncDirectory(path.dirname(databasePath))
}

function checkpoint(databasePath: string): void {
  // A file that is not a database (what a restore may be repairing) has no WAL worth keeping.
  if (!hasSqliteHeader(databasePath)) return
  let db: Database.Database | undefined
  try {
    db = new Database(databasePath, {fileMustExist: true, timeout: 2000})
    const mode = db.pragma('journal_mode', {simple: true})
    if (mode === 'wal') {
      const [result] = db.pragma('wal_checkpoint(TRUNCATE)') as Array<{busy: number; checkpointed: number; log: number}>
      if (result.busy !== 0 || result.checkpointed !== result.log) {
        throw Object.assign(new Error('the checkpoint could not complete'), {code: 'SQLITE_BUSY'})
      }
    }
  } catch (error) {
    const code = String((error as {code?: string}).code ?? '')
    if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
      throw new LibraryBackupError(
        'DATABASE_LOCKED',
        `The library ${databasePath} is in use by another process, so its pending changes cannot be saved; stop the VPO daemon and try again. Nothing was changed.`,
      )
    }

    // A damaged old database: nothing more can be saved from it, and it is being replaced anyway.
    if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) return
    throw new LibraryBackupError('IO_ERROR', `Could not prepare ${databasePath} for the restore (${(error as Error).message}); nothing was changed.`)
  } finally {
    db?.close()
  }
}
