import fs from 'node:fs'

import type {IdentitySet} from '../encryption/index.js'
import type {BackupTarget} from '../storage/target.js'

import {LibraryBackupError} from '../errors.js'
import {formatCount} from '../format.js'
import {locateArchive, openTarget} from '../storage/locations.js'
import {latestToRestore} from './backup-selection.js'
import {type BackupListing, listBackups, type ListedBackup} from './listing.js'
import {acceptedAt, DEFAULT_MAX_SHRINK_PERCENT, describeDestination, shrinkState} from './shrink-guard.js'

/**
 * The archive to restore: the one named, or with --latest the one backup-selection.ts picks in the
 * location. When there is none, says why instead (for --if-backup-exists).
 */
export async function chooseBackup(request: {
  archive?: string
  identities?: IdentitySet
  latest?: boolean
  location: string
  /** Where the shrink guard's record is: with --latest, a backup made after an unaccepted drop is named as such. */
  dataDir?: string
}): Promise<{archive: string; warning?: string} | {error: LibraryBackupError; missing: string}> {
  if (request.latest) {
    const target = await openTarget(request.location)
    const listing = await listBackups(target, {identities: request.identities})
    const latest = latestToRestore(listing, request.identities)
    if (latest) {
      const warning =
        request.dataDir === undefined ? undefined : madeAfterDrop(listing, latest, target, request.dataDir)
      return {archive: latest.path, ...(warning ? {warning} : {})}
    }

    const missing = `No readable backup found in ${listing.directory}`
    return {
      missing,
      error: new LibraryBackupError('BACKUP_NOT_FOUND', missing, {
        hint: 'Create one with vpo library:backup, or pass --path with where your backups are.',
      }),
    }
  }

  // A usage mistake, never "no backup" (which --if-backup-exists turns into exit 0).
  if (!request.archive)
    throw new LibraryBackupError('USAGE_ERROR', 'No backup was named', {
      hint: 'Pass BACKUP_FILE, or --latest to restore the newest backup.',
    })

  const {name, target} = await locateArchive(request.archive)
  if (await target.stat(name)) return {archive: request.archive}
  // Something there that is not a regular archive (a directory, a FIFO) is left to the reader to name.
  const onDisk = target.localPath(name)
  if (onDisk !== undefined && fs.existsSync(onDisk)) return {archive: request.archive}
  const missing =
    onDisk === undefined ? `There is no backup at ${target.addressOf(name)}` : `Backup file ${onDisk} does not exist`
  return {
    missing,
    error: new LibraryBackupError('BACKUP_NOT_FOUND', missing, {
      hint:
        onDisk === undefined
          ? 'Check the URL (vpo library:backups --path s3://… lists them).'
          : 'Check the path (vpo library:backups lists your backups).',
    }),
  }
}

/**
 * `restore --latest` after a media drive went missing: the newest backups are of the emptied
 * library. It still restores the newest (that is what was asked), but says which backup holds
 * the library as it was before the drop.
 */
function madeAfterDrop(
  listing: BackupListing,
  latest: ListedBackup,
  target: BackupTarget,
  dataDir: string,
): string | undefined {
  const state = describeDestination(listing, target.location, dataDir)
  const {reference, shrunkTo} = shrinkState(state.counted, DEFAULT_MAX_SHRINK_PERCENT, acceptedAt(state))
  if (!reference || !shrunkTo || latest.filename === reference.name || latest.sortTime <= reference.createdAt)
    return undefined
  return `${latest.path} was made after the library shrank from ${formatCount(reference.fileCount)} to ${formatCount(shrunkTo.fileCount)} files, a drop not accepted; the last backup before it is ${reference.path} (vpo library:restore "${reference.path}").`
}
