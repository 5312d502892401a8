import path from 'node:path'

import type {BackupMetadata} from '../archive/index.js'
import type {BackupTarget} from '../storage/target.js'
import type {BackupListing} from './listing.js'

import {LibraryBackupError} from '../errors.js'
import {formatCount} from '../format.js'
import {compareNewestFirst} from './backup-names.js'
import {
  acceptedAt,
  type CountedBackup,
  dropFrom,
  readDestination,
  recordDestination,
  shrinkReason,
  shrinkState,
  uncountedWarning,
} from './shrink-guard.js'
import {replacementDrop} from './shrink-replacement.js'

/** The guard's options, as `library:backup` and `library:prune` take them. */
export interface ShrinkOptions {
  /** Where the record lives: the VPO data directory. */
  dataDir: string
  maxShrinkPercent: number
  /** --accept-shrink: the drop is intended; prune as usual and compare with the new size from now on. */
  accept?: boolean
}

export interface ShrinkDrop {
  /** The last backup before the drop. */
  from: CountedBackup
  /** The newest backup, smaller by more than allowed. */
  to: CountedBackup
}

export interface BackupShrinkCheck {
  /** The new backup is smaller than the last one before the drop by more than allowed, and it was not accepted. */
  alarm?: ShrinkDrop
  /** The drop this run accepted. */
  accepted?: ShrinkDrop
  /** The destination as listed after the backup was written, for the pruning that follows. */
  listing: BackupListing
  warnings: string[]
  /** Writes the record once pruning is done; returns warnings. */
  finish(removedPaths: string[]): string[]
}

/** After `library:backup` wrote `made`: is it a drop against the last backup before any drop there? */
export async function checkBackupShrink(
  target: BackupTarget,
  archive: {metadata: BackupMetadata; path: string},
  options: ShrinkOptions,
): Promise<BackupShrinkCheck> {
  const made: CountedBackup = {
    name: archive.path.slice(archive.path.lastIndexOf(archive.path.startsWith('s3://') ? '/' : path.sep) + 1),
    path: archive.path,
    createdAt: new Date(Date.parse(archive.metadata.created_at)),
    fileCount: Number(archive.metadata.file_count),
  }
  const destination = await readDestination(target, options.dataDir)
  const from = dropFrom(destination, made.fileCount, options.maxShrinkPercent, made.name)
  const drop = from ? {from, to: made} : undefined
  const newestKnown = destination.counted
    .filter((backup) => backup.name !== made.name)
    .toSorted((a, b) => compareNewestFirst(a, b))[0]
  return {
    alarm: options.accept ? undefined : drop,
    accepted: options.accept ? drop : undefined,
    listing: destination.listing,
    warnings: [...destination.warnings, ...uncountedWarning(destination, options.dataDir, newestKnown, made.name)],
    finish: (removedPaths) =>
      recordDestination(options.dataDir, destination, {
        made,
        removedPaths,
        acceptedAt: options.accept ? made.createdAt : undefined,
      }),
  }
}

/** What the guard found at the primary location and at each --copy-to place. */
export interface PlacesShrinkCheck extends Pick<BackupShrinkCheck, 'accepted' | 'alarm' | 'warnings'> {
  /** Writes each place's record once pruning is done: the primary's, and those of the places the copy reached. */
  finish(primaryRemoved: string[], copies: Array<{location: string; path?: string; pruned: string[]}>): string[]
}

/**
 * The guard at the primary location and at every --copy-to place. The last backup before a drop
 * may be at one of them only: the primary directory on a disk that was not mounted either (the
 * backup lands on an empty mount point), or a new primary disk, while the offsite copies hold
 * years of backups. The first drop found stops retention everywhere. A copy place that cannot be
 * listed is left to its copy, which reports that place.
 */
export async function checkBackupShrinkAtPlaces(
  primary: BackupTarget,
  places: BackupTarget[],
  archive: {metadata: BackupMetadata; path: string},
  options: ShrinkOptions,
): Promise<PlacesShrinkCheck> {
  const atPrimary = await checkBackupShrink(primary, archive, options)
  const atPlaces: Array<{location: string; check: BackupShrinkCheck}> = []
  for (const place of places) {
    const check = await checkBackupShrink(place, archive, options).catch(() => {})
    if (check) atPlaces.push({location: place.location, check})
  }

  const checks = [atPrimary, ...atPlaces.map((place) => place.check)]
  return {
    alarm: checks.find((check) => check.alarm)?.alarm,
    accepted: checks.find((check) => check.accepted)?.accepted,
    warnings: [...new Set(checks.flatMap((check) => check.warnings))],
    finish(primaryRemoved, copies) {
      const warnings = atPrimary.finish(primaryRemoved)
      for (const {location, check} of atPlaces) {
        const copy = copies.find((outcome) => outcome.location === location)
        if (copy?.path) warnings.push(...check.finish(copy.pruned))
      }

      return [...new Set(warnings)]
    },
  }
}

/** What a --dry-run says the guard would do: the drop it would report (exit 11), at the first place it is found. */
export interface ShrinkPreview {
  /** The backup the new one would be compared with, and its file count. */
  from: {path: string; fileCount: number}
  fileCount: number
  maxShrinkPercent: number
  /** `--output FILE --force`: FILE would be kept, and no backup written. */
  keepsFile: boolean
}

/**
 * --dry-run: whether the backup would trip the guard, read as the real run reads it (the same
 * places, the same record, `--output FILE --force` included), with nothing written. A place that
 * cannot be read is left to the real run.
 */
export async function previewShrink(
  places: BackupTarget[],
  made: {fileCount: number; replacing?: string},
  options: ShrinkOptions,
): Promise<ShrinkPreview | undefined> {
  if (options.accept) return undefined
  const found = {fileCount: made.fileCount, maxShrinkPercent: options.maxShrinkPercent}
  for (const place of places) {
    const replaced =
      made.replacing === undefined
        ? undefined
        : await replacementDrop(place, made.replacing, made.fileCount, options).catch(() => {})
    if (replaced) return {from: replaced, ...found, keepsFile: true}
    const destination = await readDestination(place, options.dataDir).catch(() => {})
    const from = destination && dropFrom(destination, made.fileCount, options.maxShrinkPercent)
    if (from) return {from, ...found, keepsFile: false}
  }

  return undefined
}

export interface PruneShrinkCheck {
  /** Backups no rule may remove, by name, with the reason shown in prune's output. */
  protect: Map<string, string>
  accepted?: ShrinkDrop
  listing: BackupListing
  warnings: string[]
  finish(removedPaths: string[]): string[]
}

/** Before `library:prune`: the last backup before an unaccepted drop is kept, whatever the rules say. */
export async function checkPruneShrink(
  target: BackupTarget,
  options: ShrinkOptions & {dryRun?: boolean},
): Promise<PruneShrinkCheck> {
  const destination = await readDestination(target, options.dataDir)
  const state = shrinkState(destination.counted, options.maxShrinkPercent, acceptedAt(destination))
  const drop = state.reference && state.shrunkTo ? {from: state.reference, to: state.shrunkTo} : undefined
  const protect = new Map<string, string>()
  if (drop && !options.accept) protect.set(drop.from.name, shrinkReason(state)!)
  const accepted = options.accept ? drop : undefined
  return {
    protect,
    accepted,
    listing: destination.listing,
    warnings: destination.warnings,
    finish(removedPaths) {
      // A prune elsewhere (another --path, an s3:// prefix) leaves the data directory alone unless it has news for it.
      const known = destination.history.destinations[destination.key] !== undefined
      if (options.dryRun || (!accepted && !known)) return []
      return recordDestination(options.dataDir, destination, {removedPaths, acceptedAt: accepted?.to.createdAt})
    },
  }
}

/** Exit 11: one sentence with both counts and the backup that is kept for it. */
export function libraryShrank(drop: ShrinkDrop, maxShrinkPercent: number): LibraryBackupError {
  return new LibraryBackupError(
    'LIBRARY_SHRANK',
    `The library shrank from ${formatCount(drop.from.fileCount)} to ${formatCount(drop.to.fileCount)} files (more than --max-shrink ${maxShrinkPercent}%) since the last backup before the drop, ${drop.from.path}: the new backup was written, nothing was pruned, and that backup is kept until the drop is accepted`,
    {
      hint: 'If media drives were not mounted, mount them and rescan; if the files were removed on purpose, pass --accept-shrink (to library:backup or library:prune).',
    },
  )
}

/** The backup is written but the destination could not be read back: say so, and prune nothing. */
export function guardFailed(created: string, error: unknown): LibraryBackupError {
  const code = error instanceof LibraryBackupError ? error.code : 'IO_ERROR'
  return new LibraryBackupError(
    code,
    `The backup ${created} was created, but listing its destination for the shrink guard failed (${(error as Error).message}), so nothing was pruned`,
    {cause: error, hint: 'Check the destination, then run vpo library:prune to prune.'},
  )
}
