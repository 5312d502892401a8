import fs from 'node:fs'

import type {IdentitySet} from '../encryption/index.js'

import {LibraryBackupError} from '../errors.js'
import {locateArchive, openTarget} from '../storage/locations.js'
import {latestToRestore} from './backup-selection.js'
import {listBackups} from './listing.js'

/**
 * The archive to restore: the one named, or with --latest the one backup-selection.ts picks in the
 * location. When there is none, says why instead (for --if-backup-exists).
 */
export async function chooseBackup(request: {
  archive?: string
  identities?: IdentitySet
  latest?: boolean
  location: string
}): Promise<{archive: string} | {error: LibraryBackupError; missing: string}> {
  if (request.latest) {
    const listing = await listBackups(await openTarget(request.location), {identities: request.identities})
    const latest = latestToRestore(listing, request.identities)
    if (latest) return {archive: latest.path}
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
