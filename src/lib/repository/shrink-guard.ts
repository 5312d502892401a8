import type {BackupTarget} from '../storage/target.js'

import {LibraryBackupError} from '../errors.js'
import {formatCount} from '../format.js'
import {type DestinationHistory, destinationKey, type HistoryFile, loadHistory, saveHistory} from './backup-history.js'
import {historyPath} from './backup-history.js'
import {compareNewestFirst, isBackupFileName} from './backup-names.js'
import {isDeliberate} from './backup-selection.js'
import {type BackupListing, listBackups, type ListedBackup} from './listing.js'

/**
 * The shrink guard: a library that suddenly lost most of its files (a media drive not mounted at
 * rescan) is still healthy to SQLite, and nightly retention would push every backup of the real
 * library out within days. The guard finds the last backup before such a drop, keeps it out of
 * every prune until the drop is accepted, and makes each backup meanwhile exit 11.
 */

export const DEFAULT_MAX_SHRINK_PERCENT = 20

export interface CountedBackup {
  name: string
  path: string
  createdAt: Date
  fileCount: number
}

export interface ShrinkState {
  /** The backup later ones are compared with: the newest one, or the last one before a drop. */
  reference?: CountedBackup
  /** Set while a drop is not accepted: the newest backup, smaller than `reference` by more than allowed. */
  shrunkTo?: CountedBackup
}

/** `--max-shrink 20%` (or `20`): a percentage from 0 to 100; 100 turns the guard off. */
export function parseMaxShrink(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*%?\s*$/.exec(text)
  const percent = match ? Number(match[1]) : Number.NaN
  if (!(percent >= 0 && percent <= 100)) {
    throw new LibraryBackupError('USAGE_ERROR', `--max-shrink must be a percentage from 0% to 100%, not ${text}`, {
      hint: 'Pass, for example, --max-shrink 20% (100% turns the shrink guard off).',
    })
  }

  return percent
}

/** "More than P percent": exactly P is allowed, and a library that had no files cannot shrink. */
export function shrank(from: number, to: number, maxShrinkPercent: number): boolean {
  if (maxShrinkPercent >= 100 || from <= 0) return false
  return (from - to) * 100 > maxShrinkPercent * from
}

/**
 * Walks the backups oldest first. While the counts hold, each backup becomes the reference; a
 * backup smaller than the reference by more than allowed leaves the reference where it was, until
 * a later backup is back within range (the drive was mounted again) or the drop is accepted.
 * Backups made at or before `acceptedAt` only seed the walk: drops among them were accepted.
 */
export function shrinkState(
  backups: readonly CountedBackup[],
  maxShrinkPercent: number,
  acceptedAt?: Date,
): ShrinkState {
  const ordered = [...backups].sort((a, b) => compareNewestFirst(b, a))
  const accepted = acceptedAt?.getTime() ?? Number.NEGATIVE_INFINITY
  let reference: CountedBackup | undefined
  let shrunkTo: CountedBackup | undefined
  for (const backup of ordered) {
    if (
      reference &&
      backup.createdAt.getTime() > accepted &&
      shrank(reference.fileCount, backup.fileCount, maxShrinkPercent)
    ) {
      shrunkTo = backup
      continue
    }

    reference = backup
    shrunkTo = undefined
  }

  return {reference, shrunkTo}
}

export function shrinkReason(state: ShrinkState): string | undefined {
  if (!state.reference || !state.shrunkTo) return undefined
  return `last before the library shrank from ${formatCount(state.reference.fileCount)} to ${formatCount(state.shrunkTo.fileCount)} files`
}

export interface DestinationState {
  /** Every deliberate backup at the destination whose file count is known (metadata, else the record). */
  counted: CountedBackup[]
  /** Encrypted backups whose file count is in neither the archive (no identity) nor the record. */
  uncounted: ListedBackup[]
  listing: BackupListing
  history: HistoryFile
  key: string
  /** Warnings for the user: a record that could not be read. */
  warnings: string[]
}

/** What the guard knows about one destination: what it can read there, and the record for the rest. */
export async function readDestination(target: BackupTarget, dataDir: string): Promise<DestinationState> {
  return describeDestination(await listBackups(target), target.location, dataDir)
}

/** readDestination for a listing already made (restore --latest lists with its identities). */
export function describeDestination(listing: BackupListing, location: string, dataDir: string): DestinationState {
  const loaded = loadHistory(dataDir)
  const warnings = loaded.problem
    ? [
        `The backup history ${loaded.file} could not be read (${loaded.problem}); the shrink guard uses only the backups it can read, and replaces the file.`,
      ]
    : []
  const key = destinationKey(location)
  const recorded = loaded.content.destinations[key]?.backups ?? {}
  // A custom name (`--output latest.tar.gz`) is recorded but never listed.
  const missing = missingEverything(
    Object.keys(recorded).filter((name) => isBackupFileName(name)),
    listing,
    key,
  )
  if (missing) warnings.push(missing)
  const counted: CountedBackup[] = []
  const uncounted: ListedBackup[] = []
  for (const backup of listing.backups) {
    if (!isDeliberate(backup)) continue
    const fromRecord = backup.locked ? recorded[backup.filename]?.file_count : undefined
    const fileCount = backup.metadata ? Number(backup.metadata.file_count) : fromRecord
    if (fileCount === undefined) {
      if (backup.locked) uncounted.push(backup)
      continue
    }

    counted.push({name: backup.filename, path: backup.path, createdAt: backup.sortTime, fileCount})
  }

  return {counted, uncounted, listing, history: loaded.content, key, warnings}
}

/**
 * Every backup the record says this machine left at the destination is gone: its disk was not
 * mounted (the backup went onto the empty mount point), the path changed, or someone removed them.
 * Worth a line in the night's mail, since the guard has nothing there to compare with.
 */
function missingEverything(recordedNames: string[], listing: BackupListing, key: string): string | undefined {
  if (recordedNames.length === 0) return undefined
  const listed = new Set(listing.backups.map((backup) => backup.filename))
  if (recordedNames.some((name) => listed.has(name))) return undefined
  const count = recordedNames.length === 1 ? 'The backup' : `None of the ${formatCount(recordedNames.length)} backups`
  return `${count} this machine last recorded at ${key} ${recordedNames.length === 1 ? 'is not' : 'is'} there any more (is its disk mounted? were they removed?), so the shrink guard had nothing to compare with there.`
}

export function acceptedAt(state: DestinationState): Date | undefined {
  const text = state.history.destinations[state.key]?.accepted_at
  const time = text === undefined ? Number.NaN : Date.parse(text)
  return Number.isNaN(time) ? undefined : new Date(time)
}

/**
 * The backup a new one of `fileCount` files is compared with, when it is a drop of more than
 * allowed: the walk's reference over the destination's backups (but `excluding`, the one just
 * made). Undefined when there is no drop.
 */
export function dropFrom(
  state: DestinationState,
  fileCount: number,
  maxShrinkPercent: number,
  excluding?: string,
): CountedBackup | undefined {
  const earlier = state.counted.filter((backup) => backup.name !== excluding)
  // The backup just made is the newest whatever its name says (a name freed by pruning within the
  // same second sorts before that second's `-2`): it is compared with the walk's result, not placed in it.
  const {reference} = shrinkState(earlier, maxShrinkPercent, acceptedAt(state))
  return reference && shrank(reference.fileCount, fileCount, maxShrinkPercent) ? reference : undefined
}

/**
 * Writes the destination's record: the backups still there (plus `made`), and the acceptance
 * time. A record that cannot be written is a warning, never a failed backup.
 */
export function recordDestination(
  dataDir: string,
  state: DestinationState,
  changes: {made?: CountedBackup; removedPaths?: string[]; acceptedAt?: Date},
): string[] {
  const previous = state.history.destinations[state.key]
  const removed = new Set(changes.removedPaths ?? [])
  const next: DestinationHistory = {backups: {}}
  for (const backup of state.counted) {
    if (!removed.has(backup.path))
      next.backups[backup.name] = {created_at: backup.createdAt.toISOString(), file_count: backup.fileCount}
  }

  if (changes.made)
    next.backups[changes.made.name] = {
      created_at: changes.made.createdAt.toISOString(),
      file_count: changes.made.fileCount,
    }
  const accepted = changes.acceptedAt?.toISOString() ?? previous?.accepted_at
  if (accepted) next.accepted_at = accepted
  try {
    saveHistory(dataDir, {...state.history, destinations: {...state.history.destinations, [state.key]: next}})
    return []
  } catch (error) {
    return [
      `The backup history in ${dataDir} could not be written (${(error as Error).message}); the shrink guard will know only the backups it can read.`,
    ]
  }
}

/**
 * Said when the guard compares with an older backup than the newest: encrypted backups it cannot
 * open and has no record of (made on another machine, or the record was lost) are newer.
 */
export function uncountedWarning(
  state: DestinationState,
  dataDir: string,
  newestKnown: CountedBackup | undefined,
  made: string,
): string[] {
  const newer = state.uncounted.filter(
    (backup) => backup.filename !== made && (!newestKnown || backup.sortTime > newestKnown.createdAt),
  )
  if (newer.length === 0) return []
  const count = newer.length === 1 ? '1 encrypted backup' : `${formatCount(newer.length)} encrypted backups`
  return [
    `The shrink guard cannot tell how many files ${count} at ${state.key} held (no identity here, and no entry in ${historyPath(dataDir)}: another machine made them, or the record was lost), so it ${newestKnown ? `compared with the older ${newestKnown.path}` : 'had nothing to compare with'}.`,
  ]
}
