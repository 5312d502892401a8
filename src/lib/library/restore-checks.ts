import fs from 'node:fs'
import path from 'node:path'

import type {BackupMetadata} from '../archive/index.js'
import type {SpaceNeed} from '../fs/disk-space.js'
import type {RestoreOptions} from '../restore.js'

import {LibraryBackupError} from '../errors.js'

// What a restore checks before it writes anything: the dry run and the real run share these.

/** `--db` naming a directory (or a device) is a mistake to report before extracting anything. */
export function assertReplaceable(databasePath: string): void {
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

export function resolveSymlink(file: string): string {
  try {
    return fs.realpathSync(file)
  } catch {
    return file
  }
}

export function checkSchema(
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

export function spaceNeeds(
  options: RestoreOptions,
  databasePath: string,
  restoredSize: number,
  libraryExists: boolean,
): SpaceNeed[] {
  const needs: SpaceNeed[] = [
    {directory: path.dirname(databasePath), bytes: restoredSize, purpose: 'the restored database'},
  ]
  if (libraryExists && options.safetyBackup) {
    const current = fileSize(databasePath) + fileSize(`${databasePath}-wal`)
    needs.push(
      {directory: path.dirname(databasePath), bytes: current, purpose: "the safety backup's snapshot"},
      {directory: options.backupDir, bytes: Math.ceil(current * 0.8), purpose: 'the safety backup'},
    )
  }

  return needs
}

function fileSize(file: string): number {
  return fs.statSync(file, {throwIfNoEntry: false})?.size ?? 0
}
