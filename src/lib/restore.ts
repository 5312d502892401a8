import fs from 'node:fs'
import path from 'node:path'

import {type BackupMetadata, extractDatabase, readArchiveMetadata} from './archive.js'
import {writeBackup} from './backup.js'
import {assertSpaceFor, type SpaceNeed} from './disk-space.js'
import {makePrivateDirectory} from './durable-files.js'
import {fromSystemError, invalidArchive, LibraryBackupError} from './errors.js'
import {hasSqliteHeader, openCopy, quickCheck, readLibraryStats} from './library-database.js'
import {acquireLibraryLock, assertLibraryUnlocked, type LibraryLock} from './library-lock.js'
import {checkpointAndSwap} from './library-swap.js'
import {markCommitted, onInterrupt, release, removeAbandonedTemps, removeTemp, tempPathIn} from './temp-files.js'

export type RestorePhase = 'extract' | 'safety-backup' | 'verify'

export interface RestoreOptions {
  archivePath: string
  databasePath: string
  backupDir: string
  /** The newest schema this VPO can open; a newer archive is refused. */
  supportedSchemaVersion: number
  vpoVersion: string
  dryRun?: boolean
  /** Save the current library as a pre-restore backup first (the default). */
  safetyBackup: boolean
  /** Asked only when a library would be replaced; resolve false to change nothing. */
  confirm: (question: {databasePath: string; metadata: BackupMetadata}) => Promise<boolean>
  onWarning?: (message: string) => void
  onProgress?: (phase: RestorePhase, done: number, total: number) => void
}

export interface RestoreResult {
  sourcePath: string
  databasePath: string
  metadata: BackupMetadata
  checksumVerified: boolean
  currentSchemaVersion: number
  schemaMismatch: boolean
  safetyBackupPath?: string
  durationSeconds: number
  dryRun: boolean
}

export async function restoreBackup(options: RestoreOptions): Promise<RestoreResult> {
  const started = Date.now()
  const archivePath = path.resolve(options.archivePath)
  // A library.db that is a symlink is restored where it points: renaming over the link itself
  // would leave the real library untouched and the link replaced by a copy.
  const databasePath = resolveSymlink(options.databasePath)
  const databaseDir = path.dirname(databasePath)

  // 1. What the archive claims: format, schema, size. This plugin's archives say it in their
  // first kilobytes; VPO's Python layout puts the metadata last, so read through once, writing
  // nothing, rather than extract a database whose declared size is not yet known.
  const declared = await readArchiveMetadata(archivePath)
  checkSchema(declared, options)
  const libraryExists = fs.existsSync(databasePath)

  // 2. Lock and space, before anything is written.
  let createdDir: string | undefined
  let lock: LibraryLock | undefined
  let extracted: string | undefined
  let forgetInterruptCleanup: (() => void) | undefined
  try {
    if (options.dryRun) {
      await assertLibraryUnlocked(databasePath)
    } else {
      // A machine with no library yet gets its data directory, taken back if the restore fails.
      createdDir = makePrivateDirectory(databaseDir)
      lock = await acquireLibraryLock(databasePath)
      const heldLock = lock
      const dirToRemove = createdDir
      // process.exit skips the finally below: release the lock and take back the directory here.
      forgetInterruptCleanup = onInterrupt(() => {
        heldLock.releaseSync()
        if (dirToRemove) removeEmptyDirectories(dirToRemove, databaseDir)
      })
      removeAbandonedTemps(databaseDir)
    }

    await assertSpaceFor(spaceNeeds(options, declared.database_size_bytes, libraryExists))

    // 3. Extract by a fixed name beside the database, checking size and checksum on the way.
    extracted = tempPathIn(fs.existsSync(databaseDir) ? databaseDir : scratchDirFor(databaseDir), 'restore.db')
    const contents = await extractDatabase(archivePath, extracted, {
      onProgress: (done, total) => options.onProgress?.('extract', done, total),
    }).catch((error) => {
      throw fromSystemError(error, `extracting ${archivePath}`)
    })
    const {metadata} = contents
    options.onProgress?.('verify', 0, 1)
    // The copy goes to disk on the threadpool while SQLite checks it on this thread.
    const durable = options.dryRun ? Promise.resolve() : startSync(extracted)
    durable.catch(() => {}) // awaited below, unless the check fails first
    verifyExtractedLibrary(extracted, archivePath, metadata)
    await durable.catch((error) => {
      throw fromSystemError(error, `writing the restored database beside ${databasePath}`)
    })

    const result = (safetyBackupPath?: string): RestoreResult => ({
      sourcePath: archivePath,
      databasePath,
      metadata,
      checksumVerified: contents.checksumVerified,
      currentSchemaVersion: options.supportedSchemaVersion,
      schemaMismatch: metadata.schema_version !== options.supportedSchemaVersion,
      safetyBackupPath,
      durationSeconds: (Date.now() - started) / 1000,
      dryRun: Boolean(options.dryRun),
    })
    if (options.dryRun) return result()

    // 4. Ask before replacing a library; an empty machine needs no confirmation.
    if (libraryExists && !(await options.confirm({databasePath, metadata}))) {
      throw new LibraryBackupError('RESTORE_DECLINED', `Restore cancelled; ${databasePath} was not changed.`)
    }

    // 5. Keep the current library (WAL commits included) as a normal archive.
    let safetyBackupPath: string | undefined
    if (libraryExists && options.safetyBackup) safetyBackupPath = await saveSafetyBackup(options, lock!)

    // 6. The swap: synchronous from here, so no signal handler runs in the middle of it.
    lock!.assertHeld()
    checkpointAndSwap(databasePath, extracted)
    markCommitted()
    release(extracted)
    extracted = undefined
    createdDir = undefined
    return result(safetyBackupPath)
  } finally {
    forgetInterruptCleanup?.()
    if (extracted) removeTemp(extracted)
    await lock?.release()
    if (createdDir) removeEmptyDirectories(createdDir, databaseDir)
  }
}

function resolveSymlink(file: string): string {
  try {
    return fs.realpathSync(file)
  } catch {
    return file
  }
}

function checkSchema(metadata: BackupMetadata, options: Pick<RestoreOptions, 'archivePath' | 'onWarning' | 'supportedSchemaVersion'>): void {
  const supported = options.supportedSchemaVersion
  if (metadata.schema_version > supported) {
    throw new LibraryBackupError(
      'SCHEMA_TOO_NEW',
      `${options.archivePath} holds a library with schema version ${metadata.schema_version}, newer than the ${supported} this VPO supports; upgrade VPO, then restore it.`,
    )
  }

  if (metadata.schema_version < supported) {
    options.onWarning?.(
      `The backup uses schema version ${metadata.schema_version}, older than the current ${supported}; VPO will migrate it the next time it opens the library.`,
    )
  }
}

function spaceNeeds(options: RestoreOptions, restoredSize: number, libraryExists: boolean): SpaceNeed[] {
  const needs: SpaceNeed[] = [{directory: path.dirname(options.databasePath), bytes: restoredSize, purpose: 'the restored database'}]
  if (libraryExists && options.safetyBackup && !options.dryRun) {
    const current = sizeWithWal(options.databasePath)
    // A safety backup writes a snapshot, then an archive of about half its size.
    needs.push({directory: options.backupDir, bytes: current * 2, purpose: 'the safety backup'})
  }

  return needs
}

function sizeWithWal(databasePath: string): number {
  return fileSize(databasePath) + fileSize(`${databasePath}-wal`)
}

function fileSize(file: string): number {
  return fs.statSync(file, {throwIfNoEntry: false})?.size ?? 0
}

/** Starts fsync on the threadpool now (not at the next tick), so it runs alongside sync work. */
function startSync(file: string): Promise<void> {
  const fd = fs.openSync(file, 'r+')
  return new Promise((resolve, reject) => {
    fs.fsync(fd, (error) => {
      fs.close(fd, () => {})
      if (error) reject(error)
      else resolve()
    })
  })
}

function verifyExtractedLibrary(extracted: string, archivePath: string, metadata: BackupMetadata): void {
  if (!hasSqliteHeader(extracted)) throw invalidArchive(archivePath, 'its library.db is not a SQLite database')
  let db
  try {
    db = openCopy(extracted)
    const problem = quickCheck(db)
    if (problem) throw invalidArchive(archivePath, `its library.db fails SQLite's quick_check (${problem})`)
    const stats = readLibraryStats(db, 'library.db')
    if (stats.schemaVersion !== metadata.schema_version) {
      throw invalidArchive(archivePath, `its database has schema version ${stats.schemaVersion} but the metadata says ${metadata.schema_version}`)
    }
  } catch (error) {
    if (error instanceof LibraryBackupError && error.code === 'INVALID_ARCHIVE') throw error
    const reason = error instanceof LibraryBackupError ? error.message.replace(/^library\.db /, '') : (error as Error).message
    throw invalidArchive(archivePath, `its library.db cannot be used (${reason.replace(/[.;].*$/, '')})`)
  } finally {
    db?.close()
  }
}

async function saveSafetyBackup(options: RestoreOptions, lock: LibraryLock): Promise<string> {
  try {
    const saved = await writeBackup({
      databasePath: options.databasePath,
      destination: {directory: options.backupDir},
      kind: 'pre-restore',
      vpoVersion: options.vpoVersion,
      assertLockHeld: () => lock.assertHeld(),
      onProgress: (_phase, done, total) => options.onProgress?.('safety-backup', done, total),
    })
    return saved.path
  } catch (error) {
    const err = error as LibraryBackupError
    if (err.code === 'INSUFFICIENT_SPACE') {
      throw new LibraryBackupError(
        'INSUFFICIENT_SPACE',
        `Not enough disk space to save the current library as a safety backup in ${options.backupDir}; nothing was changed. Free some space, or pass --no-safety-backup to restore without one.`,
        {cause: error},
      )
    }

    if (err.code === 'DATABASE_LOCKED') throw err
    throw new LibraryBackupError(
      'SAFETY_BACKUP_FAILED',
      `Could not save the current library before replacing it (${err.message.replace(/[.;]\s.*$/, '').replace(/\.$/, '')}); nothing was changed. Fix that, or pass --no-safety-backup to replace it without a safety backup.`,
      {cause: error},
    )
  }
}

/** Dry runs onto a machine with no data directory extract into the nearest existing parent. */
function scratchDirFor(databaseDir: string): string {
  let dir = databaseDir
  while (!fs.existsSync(dir)) dir = path.dirname(dir)
  return dir
}

function removeEmptyDirectories(topCreated: string, deepest: string): void {
  let dir = deepest
  for (;;) {
    try {
      fs.rmdirSync(dir)
    } catch {
      return
    }

    if (dir === topCreated) return
    dir = path.dirname(dir)
  }
}
