import fs from 'node:fs'

import type {BackupTarget} from '../storage/target.js'

import {LibraryBackupError} from '../errors.js'
import {isObjectStoreUrl, locateArchive, openTarget} from '../storage/locations.js'
import {compareNewestFirst, isBackupFileName, parseBackupName} from './backup-names.js'
import {latestOf} from './backup-selection.js'
import {type ArchiveRef} from './copy-archive.js'

/** An archive a copy reads: where it is, its name there, and its size as listed. */
export type Source = ArchiveRef & {sizeBytes: number}

/** A directory or s3:// prefix; a path that names a file is refused in the words of the flag that gave it. */
export async function openPlace(flag: string, location: string): Promise<BackupTarget> {
  if (!isObjectStoreUrl(location) && fs.statSync(location, {throwIfNoEntry: false})?.isFile()) {
    throw new LibraryBackupError('NOT_A_DIRECTORY', `${flag} ${location} is a file, not a directory`, {
      hint: `Pass ${flag} with a directory or an s3:// prefix (name single backups as BACKUP arguments).`,
    })
  }

  return openTarget(location)
}

/**
 * The backups to copy: those named (a name at `from`, a path or an s3:// URL), else every regular
 * and safety backup at `from`, newest first, or with `latest` the newest regular one.
 */
export async function chooseSources(
  from: BackupTarget,
  options: {archives: string[]; latest?: boolean},
): Promise<Source[]> {
  if (options.archives.length > 0) {
    if (options.latest) {
      throw new LibraryBackupError(
        'USAGE_ERROR',
        `--latest copies the newest backup, so it takes no BACKUP (${options.archives[0]} was given)`,
        {
          hint: 'Pass either BACKUP names or --latest.',
        },
      )
    }

    return Promise.all(options.archives.map(async (archive) => named(from, archive)))
  }

  const stored = await from.list(isBackupFileName)
  const dated = stored
    .map((entry) => ({entry, name: parseBackupName(entry.name)!}))
    .filter(({name}) => name.kind === 'regular' || (name.kind === 'pre-restore' && !options.latest))
  dated.sort((a, b) =>
    compareNewestFirst({name: a.entry.name, createdAt: a.name.time!}, {name: b.entry.name, createdAt: b.name.time!}),
  )
  const chosen = options.latest
    ? [latestOf(dated, ({name}) => name.time!)].filter((entry) => entry !== undefined)
    : dated
  if (chosen.length === 0) {
    throw new LibraryBackupError('BACKUP_NOT_FOUND', `No backups to copy in ${from.location}`, {
      hint: 'Create one with vpo library:backup, or pass --from with where your backups are.',
    })
  }

  return chosen.map(({entry}) => ({target: from, name: entry.name, sizeBytes: entry.sizeBytes}))
}

/** A bare name is looked up at --from; a path or an s3:// URL names the archive itself. */
async function named(from: BackupTarget, archive: string): Promise<Source> {
  const {target, name} = await locateArchive(archive, {besides: from})
  const found = await target.stat(name)
  if (!found) {
    throw new LibraryBackupError('BACKUP_NOT_FOUND', `There is no backup ${target.addressOf(name)}`, {
      hint: 'List them with vpo library:backups (with --path for another place).',
    })
  }

  if (!name.endsWith('.tar.gz') && !name.endsWith('.tar.gz.age')) {
    throw new LibraryBackupError(
      'USAGE_ERROR',
      `${target.addressOf(name)} is not named like a backup (….tar.gz or ….tar.gz.age)`,
      {
        hint: 'Copy VPO backup archives only.',
      },
    )
  }

  return {target, name, sizeBytes: found.sizeBytes}
}
