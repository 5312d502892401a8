import type {BackupTarget} from './storage/target.js'

import {Cancellation} from './cancellation.js'
import {LibraryBackupError} from './errors.js'
import {isFutureDated} from './repository/backup-selection.js'
import {type BackupListing, listBackups, type ListedBackup} from './repository/listing.js'
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

export interface PruneOptions {
  now?: Date
  /** The backup this run has just made: kept whatever the rules say, and named in errors. */
  createdPath?: string
  /** Backups no rule may remove (by name), with the reason to show: the shrink guard's. */
  protect?: ReadonlyMap<string, string>
  /** The target's listing when the caller just made it (the shrink guard's), so the plan needs no other. */
  listing?: BackupListing
  /** Aborting it stops before the next removal (the operation rejects with `Interrupted`). */
  signal?: AbortSignal
}

/** What a prune would remove, decided on one listing; nothing is removed by making it. */
export interface PrunePlan {
  target: BackupTarget
  policy: RetentionPolicy
  /** The rules are applied as of this moment, in the plan and again when it is applied. */
  now: Date
  createdPath?: string
  protect?: ReadonlyMap<string, string>
  /** Every backup in the target, newest first, with what would happen to it. */
  decisions: PruneDecision[]
}

/**
 * What a retention policy would remove from a target, removing nothing. Only regular backups are
 * candidates: custom names, safety and damaged backups (by name or found not whole) and the newest
 * readable backup are never removed (see repository/retention.ts). A backup that could not be read
 * stops the plan.
 */
export async function planPrune(
  target: BackupTarget,
  policy: RetentionPolicy,
  options: PruneOptions = {},
): Promise<PrunePlan> {
  return new Cancellation(options.signal).guard(planned(target, policy, options))
}

/**
 * Carries a plan out under the location's lock. A removal that fails stops the pruning and is
 * reported with what was already removed, so the report is never "nothing changed" after something did.
 */
export async function applyPrune(plan: PrunePlan, options: {signal?: AbortSignal} = {}): Promise<PruneReport> {
  const stop = new Cancellation(options.signal)
  return stop.guard(
    withLocationLock(
      plan.target,
      async () => {
        // Listed and decided again under the lock: another prune may have removed backups since the
        // plan, and removing what the plan chose from fewer backups would keep fewer than the rules say.
        const current = decide(await present(plan.target), plan)
        return remove(plan.target, onlyPlanned(current, plan.decisions), stop, plan.createdPath)
      },
      {createdPath: plan.createdPath},
    ),
  )
}

/**
 * Plans and applies in one hold of the lock, for a run that shows no plan first (backup's --keep,
 * at its primary location and at each --copy-to place): the plan is then current, and needs no
 * second listing.
 */
export async function pruneBackups(
  target: BackupTarget,
  policy: RetentionPolicy,
  options: Omit<PruneOptions, 'listing'> = {},
): Promise<PruneReport> {
  const stop = new Cancellation(options.signal)
  return stop.guard(
    withLocationLock(
      target,
      async () => {
        const plan = await planned(target, policy, options)
        return remove(target, plan.decisions, stop, options.createdPath)
      },
      {createdPath: options.createdPath},
    ),
  )
}

/** The report of a --dry-run: the plan, with what it would remove as removed. */
export function dryRunReport(plan: PrunePlan): PruneReport {
  return {...reportOf(plan.decisions), removed: removals(plan.decisions), dryRun: true}
}

/** The reason the backup a run has just made is kept whatever the rules say. */
const JUST_MADE = 'just made'
/** The reason a backup the plan did not remove is kept when a fresh listing would remove it. */
export const NOT_IN_PLAN = 'not in the plan'

async function planned(target: BackupTarget, policy: RetentionPolicy, options: PruneOptions): Promise<PrunePlan> {
  const now = options.now ?? new Date()
  const plan = {target, policy, now, createdPath: options.createdPath, protect: options.protect}
  return {...plan, decisions: decide(await present(target, options.listing), plan)}
}

/**
 * The backups in the target: a listing made without the lock may name one that another prune
 * removed before it was read, which is gone, not unread (the store failing to send it).
 */
async function present(target: BackupTarget, listing?: BackupListing): Promise<BackupListing> {
  const listed = listing ?? (await listBackups(target))
  const gone = new Set<string>()
  for (const backup of listed.backups) {
    if (backup.readError !== undefined && (await target.stat(backup.filename).catch(() => 'unknown')) === undefined)
      gone.add(backup.filename)
  }

  return gone.size === 0 ? listed : {...listed, backups: listed.backups.filter((backup) => !gone.has(backup.filename))}
}

type Decider = Pick<PrunePlan, 'createdPath' | 'now' | 'policy' | 'protect'>

function decide(listing: BackupListing, {createdPath, now, policy, protect}: Decider): PruneDecision[] {
  // A backup the store failed to send is neither good nor bad: deciding without it could delete more.
  const unread = listing.backups.find((backup) => backup.readError !== undefined)
  if (unread) throw notPruned(unread, createdPath)
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
  return planRetention(candidates, policy, now).map(({backup, keep, reasons}) => {
    const protection = protect?.get(backup.name)
    if (protection) return {backup: backup.backup, keep: true, reasons: [...reasons, protection]}
    // Two backups within one second share a timestamp, and a name freed by pruning may be taken
    // again and sort below its `-2` twin: the backup this run made is never its own victim.
    if (!keep && backup.backup.path === createdPath) return {backup: backup.backup, keep: true, reasons: [JUST_MADE]}
    return {backup: backup.backup, keep, reasons}
  })
}

/** The fresh decisions, removing nothing the plan did not remove (a backup that came since is kept). */
function onlyPlanned(current: PruneDecision[], planned: PruneDecision[]): PruneDecision[] {
  const plannedRemovals = new Set(removals(planned))
  const plannedReasons = new Map(planned.map((decision) => [decision.backup.path, decision.reasons]))
  return current.map((decision) =>
    decision.keep || plannedRemovals.has(decision.backup.path)
      ? decision
      : {...decision, keep: true, reasons: plannedReasons.get(decision.backup.path) ?? [NOT_IN_PLAN]},
  )
}

async function remove(
  target: BackupTarget,
  decisions: PruneDecision[],
  stop: Cancellation,
  createdPath?: string,
): Promise<PruneReport> {
  const removed: string[] = []
  for (const decision of decisions) {
    if (decision.keep) continue
    stop.throwIfStopping()
    try {
      await target.remove(decision.backup.filename)
    } catch (error) {
      throw pruneFailed(decision.backup.path, removed, error, createdPath)
    }

    removed.push(decision.backup.path)
  }

  return {...reportOf(decisions), removed, dryRun: false}
}

function reportOf(decisions: PruneDecision[]): Pick<PruneReport, 'decisions' | 'kept'> {
  return {decisions, kept: decisions.filter((decision) => decision.keep).map((decision) => decision.backup.path)}
}

function removals(decisions: PruneDecision[]): string[] {
  return decisions.filter((decision) => !decision.keep).map((decision) => decision.backup.path)
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
