import type {AgeRecipient} from './encryption/index.js'
import type {BackupTarget, StoredArchive} from './storage/target.js'

import {Cancellation} from './cancellation.js'
import {LibraryBackupError} from './errors.js'
import {isBackupFileName, parseBackupName} from './repository/backup-names.js'
import {copyArchive} from './repository/copy-archive.js'
import {chooseSources, openPlace, type Source} from './repository/copy-sources.js'

export interface CopyOptions {
  /** Archives named on the command line: names at `from`, paths or s3:// URLs. Empty: every backup. */
  archives: string[]
  /** The backup directory or s3:// prefix to copy from. */
  from: string
  to: string
  /** Only the newest regular backup at `from`. */
  latest?: boolean
  /** Encrypt plain archives on the way. */
  recipients?: AgeRecipient[]
  /** Aborting it stops the copy in flight (it then rejects with `Interrupted`); copies done stay. */
  signal?: AbortSignal
}

export interface CopiedEntry {
  name: string
  from: string
  to: string
  sizeBytes: number
  encryptedOnTheWay: boolean
}

export interface SkippedEntry {
  name: string
  /** The copy already at the destination. */
  path: string
  reason: string
}

export interface FailedEntry {
  name: string
  from: string
  error: LibraryBackupError
}

export interface CopyReport {
  from: string
  to: string
  dryRun: boolean
  /** Copied, or with --dry-run, would be copied. */
  copied: CopiedEntry[]
  skipped: SkippedEntry[]
  /** Damaged sources and conflicts: the others were still copied. */
  failed: FailedEntry[]
  /** A failure that stopped the run (the destination is full or unreachable): what was done stays. */
  stoppedBy?: LibraryBackupError
}

/** One chosen backup and what the plan does with it: send it, leave it (already there), or refuse (a conflict). */
export type PlannedCopy =
  {copy: CopiedEntry; source: Source} | {failed: FailedEntry; source: Source} | {skipped: SkippedEntry; source: Source}

/** What a copy would send, decided on one look at both places; nothing is written by making it. */
export interface CopyPlan {
  from: BackupTarget
  to: BackupTarget
  recipients?: AgeRecipient[]
  /** Every chosen backup, in the order they are copied. */
  entries: PlannedCopy[]
}

/** A head large enough to hold the metadata or the age header, the part two different archives differ in. */
const COMPARED_HEAD_BYTES = 64 * 1024

/**
 * Copies what is missing at `to`: by default every regular and safety backup at `from`. Each is
 * checked before it is sent and published whole; a damaged one, or a different archive already
 * under the name at `to`, is reported and the rest still copied. Running it again copies nothing.
 *
 * The plan: the places checked, the backups chosen, and for each whether it is already at `to`.
 */
export async function planCopy(options: CopyOptions): Promise<CopyPlan> {
  const stop = new Cancellation(options.signal)
  return stop.guard(plan(options, stop))
}

async function plan(options: CopyOptions, stop: Cancellation): Promise<CopyPlan> {
  const from = stop.watch(await openPlace('--from', options.from))
  const to = stop.watch(await openPlace('--to', options.to))
  if (sameLocation(from, to)) {
    throw new LibraryBackupError('USAGE_ERROR', `--to ${options.to} is where the backups are copied from`, {
      hint: 'Pass --to with another directory or s3:// prefix.',
    })
  }

  return decide(from, to, options, stop)
}

/** planCopy between two targets already open (and known to differ). */
export async function planCopyBetween(
  from: BackupTarget,
  to: BackupTarget,
  options: Omit<CopyOptions, 'from' | 'to'>,
): Promise<CopyPlan> {
  const stop = new Cancellation(options.signal)
  return stop.guard(decide(stop.watch(from), stop.watch(to), options, stop))
}

async function decide(
  from: BackupTarget,
  to: BackupTarget,
  options: Omit<CopyOptions, 'from' | 'to'>,
  stop: Cancellation,
): Promise<CopyPlan> {
  const sources = await chooseSources(from, options)
  const present = new Map((await to.list(isBackupFileName)).map((entry) => [entry.name, entry]))
  const entries: PlannedCopy[] = []
  for (const source of sources) {
    stop.throwIfStopping()
    const label = source.target.addressOf(source.name)
    const there = await alreadyThere(source, to, present, Boolean(options.recipients))
    if (there?.conflict) {
      entries.push({source, failed: {name: source.name, from: label, error: conflict(to.addressOf(there.name), label)}})
    } else if (there) {
      entries.push({source, skipped: {name: source.name, path: to.addressOf(there.name), reason: there.reason}})
    } else {
      const name = options.recipients && !parseBackupName(source.name)?.encrypted ? `${source.name}.age` : source.name
      const copy = {name, from: label, to: to.addressOf(name), sizeBytes: source.sizeBytes}
      entries.push({source, copy: {...copy, encryptedOnTheWay: name !== source.name}})
    }
  }

  return {from, to, recipients: options.recipients, entries}
}

/** The report of a --dry-run: the plan, with what it would send as copied. */
export function dryRunReport(plan: CopyPlan): CopyReport {
  const report = emptyReport(plan, true)
  for (const entry of plan.entries) {
    if ('copy' in entry) report.copied.push(entry.copy)
    else if ('skipped' in entry) report.skipped.push(entry.skipped)
    else report.failed.push(entry.failed)
  }

  return report
}

/**
 * Sends what the plan chose, in its order, and nothing else: a backup that came to `from` since is
 * left for the next run. Publishing never replaces, so a copy that reached `to` since the plan is a
 * conflict, not overwritten; a source removed since is reported, and the rest still copied.
 */
export async function applyCopy(plan: CopyPlan, options: {signal?: AbortSignal} = {}): Promise<CopyReport> {
  const stop = new Cancellation(options.signal)
  stop.watch(plan.from)
  stop.watch(plan.to)
  return stop.guard(apply(plan, stop))
}

async function apply(plan: CopyPlan, stop: Cancellation): Promise<CopyReport> {
  const report = emptyReport(plan, false)
  for (const entry of plan.entries) {
    if ('skipped' in entry) report.skipped.push(entry.skipped)
    if ('failed' in entry) report.failed.push(entry.failed)
    if (!('copy' in entry)) continue
    stop.throwIfStopping()
    const {source} = entry
    const label = entry.copy.from
    try {
      const copied = await copyArchive(source, plan.to, {recipients: plan.recipients})
      report.copied.push({...copied, from: label, to: copied.path})
    } catch (error) {
      stop.throwIfStopping()
      const failure = error as LibraryBackupError
      if (failure.exitCode === 3 || failure.code === 'OUTPUT_EXISTS') {
        report.failed.push({name: source.name, from: label, error: failure})
        continue
      }

      // Removed since the plan (a prune at the source): this one is not there to copy, the others still are.
      if ((await source.target.stat(source.name).catch(() => 'unknown')) === undefined) {
        report.failed.push({name: source.name, from: label, error: goneSincePlan(label)})
        continue
      }

      report.stoppedBy = failure
      break
    }
  }

  return report
}

function emptyReport(plan: CopyPlan, dryRun: boolean): CopyReport {
  return {from: plan.from.location, to: plan.to.location, dryRun, copied: [], skipped: [], failed: []}
}

/** The exit a report ends with: a stop's own, else 3 for a damaged archive, else 1 for a conflict. */
export function copyOutcome(report: CopyReport): LibraryBackupError | undefined {
  if (report.stoppedBy) return report.stoppedBy
  if (report.failed.length === 0) return undefined
  const damaged = report.failed.find((entry) => entry.error.exitCode === 3)
  const first = damaged ?? report.failed[0]
  const others = report.failed.length - 1
  const more = others > 0 ? ` (and ${others} more not copied)` : ''
  return new LibraryBackupError(first.error.code, `${first.error.message}${more}`, {
    hint: `${report.copied.length} other backup${report.copied.length === 1 ? ' was' : 's were'} copied; ${lowerFirst(first.error.hint ?? 'see the list above')}`,
  })
}

/**
 * Whether `source` is at `to` already: under its own name with the same size and head (a
 * different archive under the name is a conflict), or, when encrypting, as `….age` (its bytes
 * differ by design, so its presence is enough).
 */
async function alreadyThere(
  source: Source,
  to: BackupTarget,
  present: Map<string, StoredArchive>,
  encrypting: boolean,
): Promise<{conflict?: boolean; name: string; reason: string} | undefined> {
  const sealed = `${source.name}.age`
  if (encrypting && !source.name.endsWith('.age') && present.has(sealed)) {
    return {name: sealed, reason: 'already there, encrypted'}
  }

  const existing = present.get(source.name)
  if (!existing) return undefined
  const same =
    existing.sizeBytes === source.sizeBytes &&
    (await Promise.all([
      source.target.readHead(source.name, COMPARED_HEAD_BYTES),
      to.readHead(source.name, COMPARED_HEAD_BYTES),
    ]).then(([a, b]) => a.equals(b)))
  return same ? {name: source.name, reason: 'already there'} : {conflict: true, name: source.name, reason: 'different'}
}

function conflict(existing: string, source: string): LibraryBackupError {
  return new LibraryBackupError(
    'OUTPUT_EXISTS',
    `${existing} already exists and differs from ${source}, so it was left as it is`,
    {
      hint: 'Compare the two (vpo library:verify), then remove or rename the one you do not want',
    },
  )
}

function goneSincePlan(source: string): LibraryBackupError {
  return new LibraryBackupError('BACKUP_NOT_FOUND', `${source} was removed before it could be copied`, {
    hint: 'Something else removed it (a prune at the source?); run the copy again to copy what is there now',
  })
}

function sameLocation(a: BackupTarget, b: BackupTarget): boolean {
  return a.location.replace(/\/+$/, '') === b.location.replace(/\/+$/, '')
}

function lowerFirst(text: string): string {
  return /^[A-Z][a-z]/.test(text) ? text[0].toLowerCase() + text.slice(1) : text
}
