/**
 * Which backup: the rules that pick one out of several, for `restore --latest`, `verify --latest`
 * and `--max-age`, `copy --latest` and the hint a failed backup gives. They read what a listing
 * found (or, for callers that read nothing, a name and a date) and never read a backup themselves.
 */
import type {IdentitySet} from '../encryption/index.js'
import type {BackupKind} from './backup-names.js'
import type {BackupListing, ListedBackup} from './listing.js'

import {lockedArchiveError} from '../encryption/encrypted-archives.js'
import {compareNewestFirst} from './backup-names.js'

/** How far ahead of this machine's clock a backup's date may be before it is not believed. */
export const CLOCK_SKEW_MS = 5 * 60 * 1000

/**
 * Backups made on purpose (regular or custom-named): what `--latest` and `--max-age` look at. A
 * pre-restore safety backup is newer than the backup restored after it, and restoring "the latest"
 * must not quietly undo that restore; a damaged one is kept for its data, not to restore blindly.
 */
export function isDeliberate(entry: {kind: BackupKind}): boolean {
  return entry.kind === 'regular' || entry.kind === 'custom'
}

/**
 * Dated further in the future than clocks drift apart: a wrong clock where it was made, or a
 * planted file. It must not pass for the newest backup (that would silence `verify --max-age`
 * and steer `restore --latest` and prune's protection), unless nothing else is there.
 */
export function isFutureDated(entry: {sortTime: Date}, now: Date = new Date()): boolean {
  return entry.sortTime.getTime() > now.getTime() + CLOCK_SKEW_MS
}

/**
 * What "the latest" is among candidates sorted newest first: the newest one not dated in the
 * future; one that is counts only when every candidate is.
 */
export function latestOf<T>(
  newestFirst: readonly T[],
  dateOf: (entry: T) => Date,
  now: Date = new Date(),
): T | undefined {
  return newestFirst.find((entry) => !isFutureDated({sortTime: dateOf(entry)}, now)) ?? newestFirst[0]
}

/** The newest deliberate backup that is whole and whose metadata reads: the one to name in a hint. */
export function newestReadable(listing: BackupListing, now: Date = new Date()): ListedBackup | undefined {
  const readable = listing.backups.filter(
    (entry) => entry.whole === true && entry.metadata !== null && isDeliberate(entry),
  )
  return latestOf(readable, sortTimeOf, now)
}

/**
 * What `restore --latest` restores: the newest readable backup. Only one known to be damaged is
 * passed over: past a newer encrypted backup this process cannot open lies older data, and
 * restoring that instead would quietly bring back a stale library, so it is a key error, as for a
 * named one; so is one the store failed to send (its read error is thrown).
 */
export function latestToRestore(
  listing: BackupListing,
  identities?: IdentitySet,
  now: Date = new Date(),
): ListedBackup | undefined {
  const candidates = listing.backups.filter(
    (entry) =>
      isDeliberate(entry) && entry.whole !== false && (entry.metadata !== null || entry.locked || entry.readError),
  )
  const latest = latestOf(candidates, sortTimeOf, now)
  if (latest?.readError) throw latest.readError
  if (latest?.locked) throw lockedArchiveError(latest.path, identities)
  // Metadata was read, so it is whole: the newest readable backup.
  return latest
}

/**
 * What `verify` checks in a listing: every backup but one written with --allow-damaged (it fails
 * quick_check by definition; it is kept for its data); with `latest`, the latest deliberate one.
 */
export function backupsToVerify(listing: BackupListing, options: {latest?: boolean; now?: Date}): ListedBackup[] {
  const kept = listing.backups.filter((entry) => entry.kind !== 'damaged')
  if (!options.latest) return kept
  const latest = latestOf(
    kept.filter((entry) => isDeliberate(entry)),
    sortTimeOf,
    options.now,
  )
  return latest ? [latest] : []
}

/**
 * What `verify --max-age` measures freshness by: of the backups that verified, the newest made on
 * purpose (a safety backup says nothing about whether the scheduled backups run) and dated in the
 * past. One dated ahead of the clock would look fresh for as long as the clock takes to catch up:
 * it never counts, and is named apart.
 */
export function newestVerified<T extends {createdAt?: Date; deliberate?: boolean; ok: boolean; path: string}>(
  checks: readonly T[],
  now: Date = new Date(),
): {futureDated?: T; newest?: T} {
  const good = checks.filter((result) => result.ok && result.createdAt && result.deliberate)
  good.sort((a, b) =>
    compareNewestFirst({name: a.path, createdAt: a.createdAt!}, {name: b.path, createdAt: b.createdAt!}),
  )
  const inFuture = (result: T) => isFutureDated({sortTime: result.createdAt!}, now)
  return {newest: good.find((result) => !inFuture(result)), futureDated: good.find((result) => inFuture(result))}
}

function sortTimeOf(entry: ListedBackup): Date {
  return entry.sortTime
}
