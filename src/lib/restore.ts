import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import type {BackupMetadata} from './archive/index.js'
import type {ArchiveInput} from './archive/source.js'
import type {AgeRecipient} from './encryption/index.js'

import {Cancellation} from './cancellation.js'
import {type ArchiveKeys, loadRecipients} from './encryption/encrypted-archives.js'
import {LibraryBackupError} from './errors.js'
import {assertSpaceFor} from './fs/disk-space.js'
import {makePrivateDirectory, removeEmptyDirectories} from './fs/durable-files.js'
import {copyOwnership, giveTo, ownerFor} from './fs/ownership.js'
import {release, removeAbandonedTemps, removeTemp} from './fs/temp-files.js'
import {acquireLibraryLock, assertLibraryUnlocked, type LibraryLock} from './library/library-lock.js'
import {checkpointAndSwap} from './library/library-swap.js'
import {assertReplaceable, checkSchema, resolveSymlink, spaceNeeds} from './library/restore-checks.js'
import {withLocalArchiveInput} from './repository/local-plain-archive.js'
import {readDeclaredMetadata, verifyArchive, type VerifyPhase} from './repository/verification.js'
import {writeBackup} from './repository/write-backup.js'
import {LocalDirectory} from './storage/local-directory.js'
import {locateArchive} from './storage/locations.js'

export type RestorePhase = 'safety-backup' | VerifyPhase

export interface RestoreOptions {
  /** A path or an s3:// URL. */
  archive: string
  databasePath: string
  backupDir: string
  /** The newest schema this VPO can open; a newer archive is refused. */
  supportedSchemaVersion: number
  vpoVersion: string
  /** Save the current library as a pre-restore backup first (the default). */
  safetyBackup: boolean
  /** Asked only when a library would be replaced; resolve false to change nothing. */
  confirm: (question: {databasePath: string; metadata: BackupMetadata}) => Promise<boolean>
  onWarning?: (message: string) => void
  onProgress?: (phase: RestorePhase, done: number, total: number) => void
  /** Identities for an encrypted archive; recipients for the safety backup of an encrypted restore. */
  keys?: ArchiveKeys
  /** Aborting it stops the restore (it then rejects with `Interrupted`) until the library is swapped. */
  signal?: AbortSignal
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
}

/** Whether a library is there to be replaced (a dangling symlink counts as none). */
export function libraryExists(databasePath: string): boolean {
  return fs.existsSync(databasePath)
}

/** --dry-run: everything a restore checks, in a temporary directory; nothing else is touched. */
export async function planRestore(options: Omit<RestoreOptions, 'confirm' | 'safetyBackup'>): Promise<RestoreResult> {
  const stop = new Cancellation(options.signal)
  return stop.guard(plan(options, stop))
}

async function plan(
  options: Omit<RestoreOptions, 'confirm' | 'safetyBackup'>,
  stop: Cancellation,
): Promise<RestoreResult> {
  const started = Date.now()
  const databasePath = resolveSymlink(options.databasePath)
  return withLocalArchive(options.archive, options.keys, stop, async (archivePath, sourcePath) => {
    const declared = await readDeclaredMetadata(archivePath)
    checkSchema(declared, sourcePath, options)
    assertReplaceable(databasePath)
    await assertLibraryUnlocked(databasePath)
    const scratchDir = os.tmpdir()
    await assertSpaceFor([
      {directory: scratchDir, bytes: declared.database_size_bytes, purpose: 'the trial extraction'},
    ])
    const verified = await verifyArchive(archivePath, {scratchDir, onProgress: options.onProgress})
    return resultOf({
      sourcePath,
      databasePath,
      verified,
      supportedSchemaVersion: options.supportedSchemaVersion,
      started,
    })
  })
}

export async function restoreBackup(options: RestoreOptions): Promise<RestoreResult> {
  const stop = new Cancellation(options.signal)
  return stop.guard(restore(options, stop))
}

async function restore(options: RestoreOptions, stop: Cancellation): Promise<RestoreResult> {
  const started = Date.now()
  // A library.db that is a symlink is restored where it points: renaming over the link itself
  // would leave the real library untouched and the link replaced by a copy.
  const databasePath = resolveSymlink(options.databasePath)
  const databaseDir = path.dirname(databasePath)
  return withLocalArchive(options.archive, options.keys, stop, async (archivePath, sourcePath, encrypted) => {
    // 1. What the archive claims: format, schema, size, before anything is written.
    const declared = await readDeclaredMetadata(archivePath)
    checkSchema(declared, sourcePath, options)
    const libraryExists = fs.existsSync(databasePath)
    assertReplaceable(databasePath)
    // Restoring an encrypted backup: its safety backup is encrypted too, to the configured
    // recipients. Read only then, and before anything is written, so a bad recipients file can
    // neither stop a plain restore nor stop an encrypted one half-way.
    const safetyRecipients =
      encrypted && libraryExists && options.safetyBackup
        ? (options.keys?.recipients ?? (await loadRecipients({})))
        : undefined

    let createdDir: string | undefined
    let lock: LibraryLock | undefined
    let extracted: string | undefined
    let safetyBackupPath: string | undefined
    let forgetStopCleanup: (() => void) | undefined
    try {
      // 2. A machine with no library yet gets its data directory, taken back if the restore fails.
      createdDir = makePrivateDirectory(databaseDir)
      // A stop while the lock is being taken waits for it and lets it go: an exit in between would leave it.
      const locking = acquireLibraryLock(databasePath)
      const forgetLocking = stop.onStop(async () => (await locking.catch(() => {}))?.releaseSync())
      lock = await locking.finally(forgetLocking)
      const heldLock = lock
      const dirToRemove = createdDir
      // An interrupted command exits without running the finally below: release the lock and take
      // back the directory here.
      forgetStopCleanup = stop.onStop(() => {
        heldLock.releaseSync()
        if (dirToRemove) removeEmptyDirectories(dirToRemove, databaseDir)
      })
      removeAbandonedTemps(databaseDir)
      await assertSpaceFor(spaceNeeds(options, databasePath, declared.database_size_bytes, libraryExists))

      // 3. Extract beside the database (so the swap is a rename), verify, make it durable.
      const verified = await verifyArchive(archivePath, {
        scratchDir: databaseDir,
        keep: true,
        onProgress: options.onProgress,
      })
      extracted = verified.databasePath!

      // 4. Ask before replacing a library; an empty machine needs no confirmation.
      if (libraryExists && !(await options.confirm({databasePath, metadata: verified.metadata}))) {
        throw new LibraryBackupError('RESTORE_DECLINED', `Restore cancelled; ${databasePath} was not changed`)
      }

      // 5. Keep the current library (WAL commits included) as a normal archive.
      if (libraryExists && options.safetyBackup)
        safetyBackupPath = await saveSafetyBackup(options, databasePath, lock, {recipients: safetyRecipients, stop})

      // 6. The swap: synchronous from here, so no signal handler runs in the middle of it. The new
      // file takes the owner, group and mode of the one it replaces, so the daemon can open it.
      const replaced = fs.statSync(databasePath, {throwIfNoEntry: false})
      if (replaced) copyOwnership(replaced, extracted)
      else giveTo(extracted, ownerFor(databaseDir))
      lock.assertHeld()
      stop.throwIfStopping()
      checkpointAndSwap(databasePath, extracted)
      stop.commit()
      release(extracted)
      extracted = undefined
      createdDir = undefined
      return {
        ...resultOf({
          sourcePath,
          databasePath,
          verified,
          supportedSchemaVersion: options.supportedSchemaVersion,
          started,
        }),
        safetyBackupPath,
      }
    } catch (error) {
      throw safetyBackupPath ? withSafetyBackupNote(error, safetyBackupPath) : error
    } finally {
      forgetStopCleanup?.()
      if (extracted) removeTemp(extracted)
      await lock?.release()
      if (createdDir) removeEmptyDirectories(createdDir, databaseDir)
    }
  })
}

/**
 * Runs `work` on a local copy of the archive: the file itself, or a download in the temp
 * directory, removed afterwards. A remote archive is fetched whole before `work` reads a byte; an
 * encrypted one is decrypted as it is read, and the reader reports it whole only once its last
 * chunk has authenticated, so neither can change anything unless it verifies.
 */
async function withLocalArchive<T>(
  archive: string,
  keys: ArchiveKeys | undefined,
  stop: Cancellation,
  work: (archive: ArchiveInput, sourcePath: string, encrypted: boolean) => Promise<T>,
): Promise<T> {
  const {target, name} = await locateArchive(archive)
  stop.watch(target)
  return withLocalArchiveInput({target, name}, keys ?? {}, (input, encrypted) =>
    work(input, target.describe(name), encrypted),
  )
}

function resultOf(facts: {
  databasePath: string
  sourcePath: string
  started: number
  supportedSchemaVersion: number
  verified: {checksumVerified: boolean; metadata: BackupMetadata}
}): RestoreResult {
  const {metadata} = facts.verified
  return {
    sourcePath: facts.sourcePath,
    databasePath: facts.databasePath,
    metadata,
    checksumVerified: facts.verified.checksumVerified,
    currentSchemaVersion: facts.supportedSchemaVersion,
    schemaMismatch: metadata.schema_version !== facts.supportedSchemaVersion,
    durationSeconds: (Date.now() - facts.started) / 1000,
  }
}

async function saveSafetyBackup(
  options: RestoreOptions,
  databasePath: string,
  lock: LibraryLock,
  {recipients, stop}: {recipients?: AgeRecipient[]; stop: Cancellation},
): Promise<string> {
  try {
    const saved = await writeBackup({
      stop,
      databasePath,
      destination: {target: new LocalDirectory(options.backupDir)},
      kind: 'pre-restore',
      recipients,
      // The library being replaced may be damaged (that is often why it is being restored).
      allowDamaged: true,
      vpoVersion: options.vpoVersion,
      assertLockHeld: () => lock.assertHeld(),
      onProgress: (_phase, done, total) => options.onProgress?.('safety-backup', done, total),
    })
    return saved.path
  } catch (error) {
    const err = error as LibraryBackupError
    if (err.code === 'DATABASE_LOCKED') throw err
    if (err.code === 'INSUFFICIENT_SPACE') {
      throw new LibraryBackupError(
        'INSUFFICIENT_SPACE',
        `Not enough disk space to save the current library as a safety backup in ${options.backupDir}; nothing was changed`,
        {
          cause: error,
          hint: 'Free some space, or pass --no-safety-backup to restore without one.',
        },
      )
    }

    throw new LibraryBackupError(
      'SAFETY_BACKUP_FAILED',
      `Could not save the current library before replacing it (${err.message}); nothing was changed`,
      {
        cause: error,
        hint: 'Fix that, or pass --no-safety-backup to replace it without a safety backup.',
      },
    )
  }
}

/** A restore that fails after its safety backup was written says so: that file is new. */
function withSafetyBackupNote(error: unknown, safetyBackupPath: string): unknown {
  if (!(error instanceof LibraryBackupError)) return error
  return new LibraryBackupError(
    error.code,
    `${error.message} (the safety backup made for this restore stays at ${safetyBackupPath})`,
    {
      cause: error,
      hint: error.hint,
    },
  )
}
