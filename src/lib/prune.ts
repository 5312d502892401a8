import type {BackupTarget} from './storage/target.js'

import {Cancellation} from './cancellation.js'
import {LibraryBackupError} from './errors.js'
import {type BackupListing, isFutureDated, listBackups, type ListedBackup} from './repository/listing.js'
import {withLocationLock} from './repository/location-lock.js'
import {backupKindOf, planRetention, type RetentionPolicy} from './repository/retention.js'

export type {RetentionPolicy} from './repository/retention.js'

export interface PruneDecision {
  backup: ListedBackup
  keep: boolean
  /** The rules or protections that keep it; empty when it is removed. */
  reasons: string[]
}

export interface PruneReport {
  /** Every backup in the target, newest first, with what happened to it. */
  decisions: PruneDecision[]
  kept: string[]
  removed: string[]
  dryRun: boolean
}

/**
 * Applies a retention policy to the backups in a target. Only regular backups are candidates:
 * custom names, safety and damaged backups (by name or found not whole) and the newest readable
 * backup are never removed (see
 * repository/retention.ts). A removal that fails stops the pruning and is reported with what was already
 * removed, so the report is never "nothing changed" after something did.
 */
export async function pruneBackups(
  target: BackupTarget,
  policy: RetentionPolicy,
  options: PruneOptions = {},
): Promise<PruneReport> {
  const stop = new Cancellation(options.signal)
  // A dry run changes nothing, so it never waits; a real one lists and removes under the lock.
  return stop.guard(
    options.dryRun
      ? prune(target, policy, options, stop)
      : withLocationLock(target, () => prune(target, policy, options, stop), {createdPath: options.createdPath}),
  )
}

interface PruneOptions {
  dryRun?: boolean
  now?: Date
  createdPath?: string
  /** Backups no rule may remove (by name), with the reason to show: the shrink guard's. */
  protect?: ReadonlyMap<string, string>
  /**
   * The target's listing when the caller just made it. Used by a dry run only: a real prune lists
   * again under the lock, as another prune may have removed backups since.
   */
  listing?: BackupListing
  /** Aborting it stops before the next removal (the operation rejects with `Interrupted`). */
  signal?: AbortSignal
}

/** The reason the backup a run has just made is kept whatever the rules say. */
const JUST_MADE = 'just made'

async function prune(
  target: BackupTarget,
  policy: RetentionPolicy,
  options: PruneOptions,
  stop: Cancellation,
): Promise<PruneReport> {
  const listing = (options.dryRun ? options.listing : undefined) ?? (await listBackups(target))
  // A backup the store failed to send is neither good nor bad: deciding without it could delete more.
  const unread = listing.backups.find((backup) => backup.readError !== undefined)
  if (unread) throw notPruned(unread, options.createdPath)
  const now = options.now ?? new Date()
  const candidates = listing.backups.map((backup) => ({
    backup,
    name: backup.filename,
    createdAt: backup.sortTime,
    kind: backupKindOf(backup.filename),
    // An encrypted backup no given identity opens is unread, not bad: it may be the newest good one.
    readable: backup.whole !== false && (backup.metadata !== null || backup.locked === true),
    ...(backup.whole === false ? {damage: backup.damage ?? 'unreadable'} : {}),
    futureDated: isFutureDated(backup, now),
  }))
  const plan = planRetention(candidates, policy, now)
  const decisions = plan.map(({backup, keep, reasons}) => {
    const protection = options.protect?.get(backup.name)
    if (protection) return {backup: backup.backup, keep: true, reasons: [...reasons, protection]}
    // Two backups within one second share a timestamp, and a name freed by pruning may be taken
    // again and sort below its `-2` twin: the backup this run made is never its own victim.
    if (!keep && backup.backup.path === options.createdPath)
      return {backup: backup.backup, keep: true, reasons: [JUST_MADE]}
    return {backup: backup.backup, keep, reasons}
  })
  const removed: string[] = []
  if (!options.dryRun) {
    for (const decision of decisions) {
      if (decision.keep) continue
      stop.throwIfStopping()
      try {
        await target.remove(decision.backup.filename)
      } catch (error) {
        throw pruneFailed(decision.backup.path, removed, error, options.createdPath)
      }

      removed.push(decision.backup.path)
    }
  }

  return {
    decisions,
    kept: decisions.filter((decision) => decision.keep).map((decision) => decision.backup.path),
    removed: options.dryRun
      ? decisions.filter((decision) => !decision.keep).map((decision) => decision.backup.path)
      : removed,
    dryRun: Boolean(options.dryRun),
  }
}

function pruneFailed(failedPath: string, removed: string[], error: unknown, createdPath?: string): LibraryBackupError {
  const made = createdPath ? `The backup ${createdPath} was created` : 'Pruning started'
  const done =
    removed.length > 0
      ? `, ${removed.length} old backup${removed.length === 1 ? ' was' : 's were'} removed (${removed.join(', ')})`
      : ', no old backup was removed'
  return new LibraryBackupError(
    'PRUNE_FAILED',
    `${made}${done}, but removing ${failedPath} failed (${(error as Error).message}); the other old backups were kept`,
    {
      cause: error,
      hint: 'Fix that, then run vpo library:prune to finish pruning.',
    },
  )
}

function notPruned(unread: ListedBackup, createdPath?: string): LibraryBackupError {
  const error = unread.readError as Error
  const code = error instanceof LibraryBackupError ? error.code : 'IO_ERROR'
  const made = createdPath ? `The backup ${createdPath} was created, but ` : ''
  return new LibraryBackupError(
    code,
    `${made}${unread.path} could not be read (${error.message}), so nothing was pruned`,
    {cause: error, hint: 'Try again when the store answers (vpo library:prune).'},
  )
}
