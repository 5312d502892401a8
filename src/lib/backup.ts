import path from 'node:path'

import type {AgeRecipient} from './encryption/index.js'
import type {BackupTarget} from './storage/target.js'

import {type BackupMetadata, estimateArchiveSize} from './archive/index.js'
import {Cancellation} from './cancellation.js'
import {assertOutputName} from './encryption/encrypted-archives.js'
import {assertSpaceFor} from './fs/disk-space.js'
import {removeAbandonedTemps} from './fs/temp-files.js'
import {openRolledBackCopy} from './library/hot-journal.js'
import {assertLibraryExists, type LibraryStats, openLiveLibrary, readLibraryStats} from './library/library-database.js'
import {acquireLibraryLock, assertLibraryUnlocked, type LibraryLock} from './library/library-lock.js'
import {pruneBackups, type PruneReport, type RetentionPolicy} from './prune.js'
import {openCopyPlaces, type PlaceOutcome, publishCopies} from './repository/backup-copies.js'
import {type Destination, resolveDestination} from './repository/backup-destination.js'
import {assertReplacementKeepsFiles} from './repository/shrink-replacement.js'
import {
  type BackupShrinkCheck,
  checkBackupShrinkAtPlaces,
  guardFailed,
  previewShrink,
  type ShrinkOptions,
  type ShrinkPreview,
} from './repository/shrink-runs.js'
import {firstFreeName, snapshotSize, spaceNeeds, writeBackup} from './repository/write-backup.js'

export type BackupPhase = 'compress' | 'snapshot' | 'upload'
export type BackupProgress = (phase: BackupPhase, done: number, total: number) => void

export interface BackupOptions {
  databasePath: string
  /** Where a backup goes when no --output is given. */
  backupDir: string
  /** --output: a file, a directory (or `dir/`) to put the default name in, or an s3:// URL. */
  output?: string
  /** Allow replacing an existing --output file. */
  force?: boolean
  /** Write a library that fails quick_check anyway, named `…-damaged`. */
  allowDamaged?: boolean
  /** After success, prune regular backups in the destination by these rules. */
  retention?: RetentionPolicy
  /** Written into the metadata: the host CLI's version. */
  vpoVersion: string
  /** Encrypt the archive to these (age); the name then ends in `.tar.gz.age`. */
  recipients?: AgeRecipient[]
  /** --copy-to: more directories or s3:// prefixes that get the same archive, after the primary one. */
  copyTo?: string[]
  /** The shrink guard: compare the file count with the last backup before any drop at the destination. */
  shrink?: ShrinkOptions
  onProgress?: BackupProgress
  /**
   * Aborting it stops the backup (the operation then rejects with `Interrupted`) until the archive
   * is published; after that the run finishes, except while it sends --copy-to copies.
   */
  signal?: AbortSignal
}

export interface BackupResult {
  /** Where the archive is: a path or an s3:// URL. */
  path: string
  /** Its name there (and at every --copy-to place). */
  name: string
  archiveSizeBytes: number
  metadata: BackupMetadata
  damaged: boolean
  encrypted: boolean
  durationSeconds: number
  prune?: PruneReport
  /** The primary location, then each --copy-to place, with what happened there. */
  places: PlaceOutcome[]
  /** What the shrink guard found: an alarm (nothing was pruned) or the drop this run accepted. */
  shrink?: Pick<BackupShrinkCheck, 'accepted' | 'alarm'>
  /** Things the user should know that did not fail the backup. */
  warnings: string[]
}

/** What a backup will do, checked and decided before the library is locked or anything is written. */
export interface BackupPlan {
  options: Omit<BackupOptions, 'onProgress' | 'signal'>
  /** Where the archive goes; with a name when --output named the file. */
  destination: Destination
  /** The --copy-to places, opened and checked. */
  copyPlaces: BackupTarget[]
}

/** What --dry-run shows: the plan, and what carrying it out now would find and produce. */
export interface BackupPreview {
  databasePath: string
  databaseSizeBytes: number
  outputPath: string
  estimatedArchiveSizeBytes: {low: number; high: number}
  stats: LibraryStats
  /** The --copy-to places. */
  copyTo: string[]
  /** A hot -journal: the real backup rolls it back first; the figures are of the rolled-back state. */
  unfinishedTransaction: boolean
  /** The drop the shrink guard would report (exit 11); undefined when it would not. */
  shrink?: ShrinkPreview
}

export async function createBackup(options: BackupOptions): Promise<BackupResult> {
  return applyBackup(await planBackup(options), options)
}

/**
 * The checks made before anything is locked, read or written, written once for the dry run and
 * the real run: an --output that is the library or a taken file, an encrypted archive's name, a
 * --copy-to that is a file or given twice, a missing library.
 */
export async function planBackup(options: BackupOptions): Promise<BackupPlan> {
  const stop = new Cancellation(options.signal)
  return stop.guard(
    (async () => {
      const destination = await resolveDestination(options)
      stop.watch(destination.target)
      assertOutputName(destination.name, Boolean(options.recipients))
      const copyPlaces = (await openCopyPlaces(options.copyTo ?? [], destination.target)).map((place) =>
        stop.watch(place),
      )
      assertLibraryExists(options.databasePath)
      return {options: settingsOf(options), destination, copyPlaces}
    })(),
  )
}

/** What a plan keeps of the options: the signal and the progress are the run's, given to apply. */
function settingsOf(options: BackupOptions): BackupPlan['options'] {
  const settings = {...options}
  delete settings.onProgress
  delete settings.signal
  return settings
}

/** The plan carried out: snapshot, archive and publish under the library lock, then copy and prune. */
export async function applyBackup(
  plan: BackupPlan,
  run: Pick<BackupOptions, 'onProgress' | 'signal'> = {},
): Promise<BackupResult> {
  const stop = new Cancellation(run.signal)
  return stop.guard(backUp(plan, run, stop))
}

async function backUp(
  {options, destination, copyPlaces}: BackupPlan,
  run: Pick<BackupOptions, 'onProgress'>,
  stop: Cancellation,
): Promise<BackupResult> {
  const started = Date.now()
  stop.watch(destination.target)
  for (const place of copyPlaces) stop.watch(place)
  // A stop while the lock is being taken waits for it and lets it go: an exit in between would leave it.
  const locking = lockForBackup(options.databasePath)
  const forgetLocking = stop.onStop(async () => (await locking.catch(() => {}))?.releaseSync())
  const lock = await locking.finally(forgetLocking)
  try {
    // A restore killed with -9 leaves a database-sized copy beside the library: the lock makes
    // this the moment to take it away.
    removeAbandonedTemps(path.dirname(options.databasePath))
    // The free space is checked again in there, just before writing and where the archive is staged.
    const archive = await writeBackup({
      ...options,
      onProgress: run.onProgress,
      destination,
      kind: 'backup',
      assertLockHeld: () => lock.assertHeld(),
      stop,
      beforeReplacing: replacementCheck(destination, options.shrink),
    })
    const shrink =
      options.shrink && !archive.damaged
        ? await checkBackupShrinkAtPlaces(destination.target, copyPlaces, archive, options.shrink).catch(
            (error: unknown) => {
              throw guardFailed(archive.path, error)
            },
          )
        : undefined
    // A library that shrank keeps every backup of what it was: nothing is pruned, at any place,
    // until the drop is accepted.
    const retention = archive.damaged || shrink?.alarm ? undefined : options.retention
    const source = {target: destination.target, name: archive.name, sizeBytes: archive.archiveSizeBytes}
    const fileCount = Number(archive.metadata.file_count)
    const copies = await publishCopies(source, copyPlaces, {
      stop,
      retention,
      overwrite: Boolean(options.force && destination.name),
      beforeReplacing: async (place) =>
        replacementCheck({target: place, name: archive.name}, options.shrink, {copy: true})?.(fileCount),
    })
    const prune = retention ? await pruneBackups(destination.target, retention, {createdPath: archive.path}) : undefined
    const warnings = [...(shrink?.warnings ?? []), ...(shrink?.finish(prune?.removed ?? [], copies) ?? [])]
    const primary = {
      location: destination.target.location,
      primary: true,
      path: archive.path,
      pruned: prune?.removed ?? [],
    }
    return {
      ...archive,
      durationSeconds: (Date.now() - started) / 1000,
      prune,
      places: [primary, ...copies],
      shrink: shrink && {alarm: shrink.alarm, accepted: shrink.accepted},
      warnings,
    }
  } finally {
    await lock.release()
  }
}

/** `--output FILE --force`: the shrink guard reads FILE before it is replaced (see assertReplacementKeepsFiles). */
function replacementCheck(
  {target, name}: Destination,
  shrink: ShrinkOptions | undefined,
  where: {copy?: boolean} = {},
): ((fileCount: number) => Promise<void>) | undefined {
  if (!shrink || name === undefined) return undefined
  return (fileCount) => assertReplacementKeepsFiles(target, name, fileCount, {...shrink, ...where})
}

/**
 * The library lock, or, on a read-only filesystem where the lock cannot be made, a check that no
 * one took it before the filesystem went read-only: nothing can write the library there anyway.
 */
async function lockForBackup(databasePath: string): Promise<LibraryLock> {
  try {
    return await acquireLibraryLock(databasePath)
  } catch (error) {
    if ((error as {cause?: NodeJS.ErrnoException}).cause?.code !== 'EROFS') throw error
    await assertLibraryUnlocked(databasePath)
    return {assertHeld() {}, async release() {}, releaseSync() {}}
  }
}

/**
 * --dry-run: the plan, with what a real run would find now. What it checks here without the lock
 * (the lock is free, there is room) the real run checks again when it holds the lock.
 */
export async function previewBackup({options, destination, copyPlaces}: BackupPlan): Promise<BackupPreview> {
  const rolledBack = openRolledBackCopy(options.databasePath)
  const live = rolledBack?.db ?? openLiveLibrary(options.databasePath)
  try {
    await assertLibraryUnlocked(options.databasePath)
    const stats = readLibraryStats(live, options.databasePath)
    const databaseSizeBytes = snapshotSize(live)
    await assertSpaceFor(spaceNeeds(options.databasePath, destination, databaseSizeBytes))
    const existing = new Set((await destination.target.list(() => true)).map((entry) => entry.name))
    // A bucket that cannot be listed (credentials, a typo in its name) is worth knowing tonight.
    for (const place of copyPlaces) await place.list(() => false)
    const shrink = options.shrink
      ? await previewShrink(
          [destination.target, ...copyPlaces],
          {fileCount: Number(stats.fileCount), replacing: options.force ? destination.name : undefined},
          options.shrink,
        )
      : undefined
    return {
      copyTo: copyPlaces.map((place) => place.location),
      databasePath: options.databasePath,
      databaseSizeBytes,
      outputPath: destination.target.addressOf(
        destination.name ?? firstFreeName(existing, new Date(), Boolean(options.recipients)),
      ),
      estimatedArchiveSizeBytes: await estimateArchiveSize(rolledBack?.path ?? options.databasePath, databaseSizeBytes),
      stats,
      unfinishedTransaction: rolledBack !== undefined,
      shrink,
    }
  } finally {
    live.close()
  }
}
