import type {BackupTarget} from './storage/target.js'

import {compareNewestFirst, parseBackupName} from './backup-names.js'
import {LibraryBackupError} from './errors.js'
import {listBackups} from './listing.js'

export interface RetentionPolicy {
  last?: number
}

export interface PruneReport {
  kept: string[]
  removed: string[]
}

/**
 * Removes the regular backups the policy does not keep. Only regular backups count and are
 * candidates: custom names, safety and damaged backups are never touched. A removal that fails
 * stops the pruning and is reported with what was already removed.
 */
export async function applyRetention(
  target: BackupTarget,
  policy: RetentionPolicy,
  context: {backupPath?: string; justCreated?: string} = {},
): Promise<PruneReport> {
  const listing = await listBackups(target)
  const regular = listing.backups
    .filter((entry) => parseBackupName(entry.filename)?.kind === 'regular')
    .sort((a, b) => compareNewestFirst({name: a.filename, createdAt: a.sortTime}, {name: b.filename, createdAt: b.sortTime}))
  const keep = new Set<string>(context.justCreated ? [context.justCreated] : [])
  for (const entry of regular) {
    if (keep.size >= (policy.last ?? Infinity)) break
    keep.add(entry.filename)
  }

  const removed: string[] = []
  for (const entry of regular) {
    if (keep.has(entry.filename)) continue
    try {
      await target.remove(entry.filename)
    } catch (error) {
      const made = context.backupPath ? `The backup ${context.backupPath} was created` : 'Pruning started'
      const done = removed.length > 0 ? `, ${removed.length} old backup${removed.length === 1 ? ' was' : 's were'} removed (${removed.join(', ')})` : ''
      throw new LibraryBackupError(
        'PRUNE_FAILED',
        `${made}${done}, but removing ${entry.path} failed (${(error as Error).message}); the other old backups were kept`,
        {cause: error, hint: 'Fix that, then run vpo library:prune to finish pruning.'},
      )
    }

    removed.push(entry.path)
  }

  return {kept: regular.filter((entry) => keep.has(entry.filename)).map((entry) => entry.path), removed}
}
