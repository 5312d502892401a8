import fs from 'node:fs'
import path from 'node:path'

import type {BackupMetadata} from '../archive/index.js'
import type {ArchiveInput} from '../archive/source.js'
import type {AgeRecipient} from '../encryption/index.js'
import type {SpaceNeed} from '../fs/disk-space.js'
import type {RestoreOptions} from '../restore.js'

import {loadRecipients} from '../encryption/encrypted-archives.js'
import {LibraryBackupError} from '../errors.js'
import {assertLibraryUnlocked} from '../library/library-lock.js'
import {readDeclaredMetadata} from '../repository/verification.js'

/**
 * A restore decided before anything is written: what `restore --dry-run` shows and what the real
 * restore carries out. Every pre-flight check runs once, here, for both.
 */
export interface RestorePlan {
  /** The backup as the user named it (a path or an s3:// URL). */
  sourcePath: string
  /** Where the library is restored: a library.db symlink resolved to the file it points to. */
  databasePath: string
  /** What the archive declares (format, schema, size), read before anything is written. */
  declared: BackupMetadata
  /** A library is there, so it is replaced (once confirmed); an empty machine needs no confirmation. */
  replacesLibrary: boolean
  /** Set when the current library is saved first; encrypted to `recipients` when they are given. */
  safetyBackup?: {recipients?: AgeRecipient[]}
  /** What the restore writes, and where: checked against the free space once the lock is held. */
  spaceNeeds: SpaceNeed[]
}

export type PlanOptions = Pick<
  RestoreOptions,
  'backupDir' | 'databasePath' | 'keys' | 'onWarning' | 'safetyBackup' | 'supportedSchemaVersion'
>

/**
 * Plans the restore of `archive`, already open (fetched, and being decrypted when it is an age
 * file): only its declared metadata is read, so the archive itself is read once, by the restore
 * or the dry run's trial extraction that follows.
 */
export async function planRestoreOf(
  archive: ArchiveInput,
  source: {encrypted: boolean; sourcePath: string},
  options: PlanOptions,
): Promise<RestorePlan> {
  // A library.db that is a symlink is restored where it points: renaming over the link itself
  // would leave the real library untouched and the link replaced by a copy.
  const databasePath = resolveSymlink(options.databasePath)
  const declared = await readDeclaredMetadata(archive)
  checkSchema(declared, source.sourcePath, options)
  const replacesLibrary = fs.existsSync(databasePath)
  assertReplaceable(databasePath)
  // Restoring an encrypted backup: its safety backup is encrypted too, to the configured
  // recipients. Read only then, and before anything is written, so a bad recipients file can
  // neither stop a plain restore nor stop an encrypted one half-way.
  const safetyBackup =
    replacesLibrary && options.safetyBackup
      ? {recipients: source.encrypted ? (options.keys?.recipients ?? (await loadRecipients({}))) : undefined}
      : undefined
  await assertLibraryUnlocked(databasePath)
  return {
    sourcePath: source.sourcePath,
    databasePath,
    declared,
    replacesLibrary,
    safetyBackup,
    spaceNeeds: spaceNeeds({
      backupDir: options.backupDir,
      databasePath,
      restoredSize: declared.database_size_bytes,
      safetyBackup: safetyBackup !== undefined,
    }),
  }
}

/** `--db` naming a directory (or a device) is a mistake to report before extracting anything. */
function assertReplaceable(databasePath: string): void {
  const stats = fs.statSync(databasePath, {throwIfNoEntry: false})
  if (stats && !stats.isFile()) {
    throw new LibraryBackupError(
      'NOT_A_LIBRARY',
      `${databasePath} is ${stats.isDirectory() ? 'a directory' : 'not a regular file'}, so it cannot be replaced by a library`,
      {
        hint: 'Pass --db with the path of library.db.',
      },
    )
  }
}

function resolveSymlink(file: string): string {
  try {
    return fs.realpathSync(file)
  } catch {
    return file
  }
}

function checkSchema(
  metadata: BackupMetadata,
  sourcePath: string,
  options: Pick<RestoreOptions, 'onWarning' | 'supportedSchemaVersion'>,
): void {
  const supported = options.supportedSchemaVersion
  if (metadata.schema_version > supported) {
    throw new LibraryBackupError(
      'SCHEMA_TOO_NEW',
      `${sourcePath} holds a library with schema version ${metadata.schema_version}, newer than the ${supported} this VPO supports`,
      {hint: 'Upgrade VPO, then restore it.'},
    )
  }

  if (metadata.schema_version < supported) {
    options.onWarning?.(
      `The backup uses schema version ${metadata.schema_version}, older than the current ${supported}; VPO will migrate it the next time it opens the library.`,
    )
  }
}

function spaceNeeds(restore: {
  backupDir: string
  databasePath: string
  restoredSize: number
  safetyBackup: boolean
}): SpaceNeed[] {
  const libraryDir = path.dirname(restore.databasePath)
  const needs: SpaceNeed[] = [{directory: libraryDir, bytes: restore.restoredSize, purpose: 'the restored database'}]
  if (restore.safetyBackup) {
    const current = fileSize(restore.databasePath) + fileSize(`${restore.databasePath}-wal`)
    needs.push(
      {directory: libraryDir, bytes: current, purpose: "the safety backup's snapshot"},
      {directory: restore.backupDir, bytes: Math.ceil(current * 0.8), purpose: 'the safety backup'},
    )
  }

  return needs
}

function fileSize(file: string): number {
  return fs.statSync(file, {throwIfNoEntry: false})?.size ?? 0
}
