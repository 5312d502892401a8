import type Database from 'better-sqlite3'

import fs from 'node:fs'
import path from 'node:path'

import type {AgeRecipient} from './encryption/index.js'

import {type BackupMetadata, estimateArchiveSize, writeArchive} from './archive/index.js'
import {Cancellation} from './cancellation.js'
import {assertOutputName, encryptStaged} from './encryption/encrypted-archives.js'
import {fromSystemError, LibraryBackupError} from './errors.js'
import {assertSpaceFor, type SpaceNeed} from './fs/disk-space.js'
import {removeAbandonedTemps, removeTemp, removeTempInBackground, tempPathIn} from './fs/temp-files.js'
import {inspectSnapshot, quickCheckInBackground, snapshotStats} from './library/integrity-check.js'
import {
  assertLibraryExists,
  type LibraryStats,
  openLiveLibrary,
  readLibraryStats,
  readSchemaVersion,
  snapshotLibrary,
} from './library/library-database.js'
import {acquireLibraryLock, assertLibraryUnlocked, type LibraryLock} from './library/library-lock.js'
import {pruneBackups, type PruneReport, type RetentionPolicy} from './prune.js'
import {openCopyPlaces, type PlaceOutcome, publishCopies} from './repository/backup-copies.js'
import {type Destination, outputExists, resolveDestination} from './repository/backup-destination.js'
import {backupFileName, type BackupKind, formatCreatedAt} from './repository/backup-names.js'
import {listBackups, newestReadable} from './repository/listing.js'
import {type BackupShrinkCheck, checkBackupShrink, guardFailed, type ShrinkOptions} from './repository/shrink-runs.js'

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

export interface BackupPlan {
  databasePath: string
  databaseSizeBytes: number
  outputPath: string
  estimatedArchiveSizeBytes: {low: number; high: number}
  stats: LibraryStats
  /** The --copy-to places. */
  copyTo: string[]
}

export async function createBackup(options: BackupOptions): Promise<BackupResult> {
  const stop = new Cancellation(options.signal)
  return stop.guard(backUp(options, stop))
}

async function backUp(options: BackupOptions, stop: Cancellation): Promise<BackupResult> {
  const started = Date.now()
  const destination = await resolveDestination(options)
  stop.watch(destination.target)
  assertOutputName(destination.name, Boolean(options.recipients))
  const copyPlaces = (await openCopyPlaces(options.copyTo ?? [], destination.target)).map((place) => stop.watch(place))
  assertLibraryExists(options.databasePath)
  const lock = await lockForBackup(options.databasePath)
  try {
    // A restore killed with -9 leaves a database-sized copy beside the library: the lock makes
    // this the moment to take it away.
    removeAbandonedTemps(path.dirname(options.databasePath))
    const archive = await writeBackup({
      ...options,
      destination,
      kind: 'backup',
      assertLockHeld: () => lock.assertHeld(),
      stop,
    })
    const shrink =
      options.shrink && !archive.damaged
        ? await checkBackupShrink(destination.target, archive, options.shrink).catch((error: unknown) => {
            throw guardFailed(archive.path, error)
          })
        : undefined
    // A library that shrank keeps every backup of what it was: nothing is pruned, at any place,
    // until the drop is accepted.
    const retention = archive.damaged || shrink?.alarm ? undefined : options.retention
    const source = {target: destination.target, name: archive.name, sizeBytes: archive.archiveSizeBytes}
    const copies = await publishCopies(source, copyPlaces, {
      stop,
      retention,
      overwrite: Boolean(options.force && destination.name),
    })
    const prune = retention
      ? await pruneBackups(destination.target, retention, {createdPath: archive.path, listing: shrink?.listing})
      : undefined
    const warnings = [...(shrink?.warnings ?? []), ...(shrink?.finish(prune?.removed ?? []) ?? [])]
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

/** --dry-run: every check a real run makes, and what it would produce; nothing is created. */
export async function planBackup(options: BackupOptions): Promise<BackupPlan> {
  const destination = await resolveDestination(options)
  assertOutputName(destination.name, Boolean(options.recipients))
  const live = openLiveLibrary(options.databasePath)
  try {
    await assertLibraryUnlocked(options.databasePath)
    const stats = readLibraryStats(live, options.databasePath)
    const databaseSizeBytes = snapshotSize(live)
    await assertSpaceFor(spaceNeeds(options.databasePath, destination, databaseSizeBytes))
    const existing = new Set((await destination.target.list(() => true)).map((entry) => entry.name))
    const copyPlaces = await openCopyPlaces(options.copyTo ?? [], destination.target)
    // A bucket that cannot be listed (credentials, a typo in its name) is worth knowing tonight.
    for (const place of copyPlaces) await place.list(() => false)
    return {
      copyTo: copyPlaces.map((place) => place.location),
      databasePath: options.databasePath,
      databaseSizeBytes,
      outputPath: destination.target.describe(
        destination.name ?? firstFreeName(existing, new Date(), Boolean(options.recipients)),
      ),
      estimatedArchiveSizeBytes: await estimateArchiveSize(options.databasePath, databaseSizeBytes),
      stats,
    }
  } finally {
    live.close()
  }
}

/**
 * Snapshot, check, archive and publish, with the library lock already held by the caller. Restore
 * uses this for its safety backup. On any failure no archive is left under its final name and no
 * temporary file is left at all.
 */
export async function writeBackup(
  options: Pick<
    BackupOptions,
    'allowDamaged' | 'databasePath' | 'force' | 'onProgress' | 'recipients' | 'vpoVersion'
  > & {
    destination: Destination
    kind: 'backup' | 'pre-restore'
    assertLockHeld: () => void
    /** The operation this backup is part of: it is not published once that is stopping. */
    stop?: Cancellation
  },
): Promise<Omit<BackupResult, 'durationSeconds' | 'places' | 'prune' | 'shrink' | 'warnings'>> {
  const {destination} = options
  const createdAt = new Date()
  let live: Database.Database | undefined = openLiveLibrary(options.databasePath)
  let snapshotPath: string | undefined
  let snapshotRemoval: Promise<void> | undefined
  let integrity: Promise<string | undefined> | undefined
  let archivePath: string | undefined
  let doing = `reading the library ${options.databasePath}`
  try {
    readSchemaVersion(live, options.databasePath) // not a VPO library: say so before creating anything
    const estimate = snapshotSize(live)
    doing = `preparing ${destination.target.location}`
    const staging = await destination.target.prepareStaging()
    removeAbandonedTemps(staging)
    snapshotPath = tempPathIn(snapshotDirectory(options.databasePath, staging), 'snapshot.db')
    archivePath = tempPathIn(staging, 'tar.gz')
    await assertSpaceFor(
      spaceNeeds(options.databasePath, destination, estimate, {snapshotDir: path.dirname(snapshotPath), staging}),
    )

    doing = `taking a snapshot of ${options.databasePath}`
    options.onProgress?.('snapshot', 0, estimate)
    await snapshotLibrary(live, options.databasePath, snapshotPath)
    live.close()
    live = undefined
    options.onProgress?.('snapshot', estimate, estimate)

    // The statistics and the integrity gate describe the snapshot, not the live file, which may
    // have moved on. The gate runs on a worker thread while the archive is compressed.
    const {stats, damage: statsDamage} = snapshotStats(snapshotPath, options.databasePath, options.allowDamaged)
    if (!stats) throw await libraryDamaged(options.databasePath, statsDamage!, destination)
    integrity = quickCheckInBackground(snapshotPath)
    integrity.catch(() => {}) // awaited after compression

    doing = `writing the backup into ${destination.target.location}`
    const written = await writeArchive({
      archivePath,
      databasePath: snapshotPath,
      durable: !options.recipients,
      describe: {
        vpo_version: options.vpoVersion,
        schema_version: stats.schemaVersion,
        created_at: formatCreatedAt(createdAt),
        file_count: stats.fileCount,
        total_library_size_bytes: stats.totalLibrarySizeBytes,
      },
      onProgress: (done, total) => options.onProgress?.('compress', done, total),
    })
    const checkedSnapshot = snapshotPath
    const damage = await integrity.catch(() => inspectSnapshot(checkedSnapshot))
    if (damage && !options.allowDamaged) throw await libraryDamaged(options.databasePath, damage, destination)
    // Unlinking the snapshot overlaps encryption and publishing.
    snapshotRemoval = removeTempInBackground(snapshotPath)
    snapshotPath = undefined
    let {archiveSizeBytes} = written
    if (options.recipients) {
      doing = `encrypting the backup in ${staging}`
      const encrypted = await encryptStaged(archivePath, staging, options.recipients)
      archivePath = encrypted.path
      archiveSizeBytes = encrypted.sizeBytes
    }

    options.assertLockHeld()
    const kind: Exclude<BackupKind, 'custom'> = damage
      ? 'damaged'
      : options.kind === 'pre-restore'
        ? 'pre-restore'
        : 'regular'
    doing = `storing the backup in ${destination.target.location}`
    options.stop?.throwIfStopping()
    const name = await publish(archivePath, destination, createdAt, {
      force: options.force,
      kind,
      encrypted: Boolean(options.recipients),
    })
    if (options.kind === 'backup') options.stop?.commit() // a safety backup is not the restore's commit
    return {
      path: destination.target.describe(name),
      name,
      archiveSizeBytes,
      metadata: written.metadata,
      damaged: Boolean(damage),
      encrypted: Boolean(options.recipients),
    }
  } catch (error) {
    await destination.target.abandonStaging()
    throw fromSystemError(error, doing)
  } finally {
    live?.close()
    await integrity?.catch(() => {}) // the worker has the snapshot open until it answers
    if (snapshotPath) removeTemp(snapshotPath)
    if (archivePath) removeTemp(archivePath)
    await snapshotRemoval
  }
}

async function libraryDamaged(
  databasePath: string,
  damage: string,
  destination: Destination,
): Promise<LibraryBackupError> {
  const newest = await listBackups(destination.target).then(newestReadable, () => {})
  const restore = newest
    ? `Restore your newest good backup (vpo library:restore "${newest.path}")`
    : 'Restore a good backup'
  return new LibraryBackupError(
    'LIBRARY_DAMAGED',
    `The library ${databasePath} fails SQLite's quick_check (${damage}), so no backup was written and nothing was pruned`,
    {
      hint: `${restore}, or pass --allow-damaged to archive it anyway.`,
    },
  )
}

async function publish(
  archivePath: string,
  destination: Destination,
  createdAt: Date,
  options: {encrypted: boolean; force?: boolean; kind: Exclude<BackupKind, 'custom'>},
): Promise<string> {
  const {target, name} = destination
  if (name) {
    if (await target.commit(archivePath, name, {overwrite: Boolean(options.force)})) return name
    throw outputExists(target.describe(name))
  }

  // Two backups in the same second get -2, -3, …: an existing backup is never overwritten. Bounded:
  // a target that calls every name taken (a filesystem that lies about links) must not spin forever.
  for (let attempt = 1; attempt <= 1000; attempt++) {
    const candidate = backupFileName(createdAt, {attempt, kind: options.kind, encrypted: options.encrypted})
    if (await target.commit(archivePath, candidate, {overwrite: false})) return candidate
  }

  throw new LibraryBackupError(
    'IO_ERROR',
    `${target.location} reported 1,000 names for this backup as already taken, so it was not published`,
    {hint: 'Check that location (is it a filesystem that refuses new files?), or choose another --output.'},
  )
}

/** The name a backup made now would get (publish() settles races; this is for the dry run). */
function firstFreeName(existing: Set<string>, date: Date, encrypted: boolean): string {
  for (let attempt = 1; ; attempt++) {
    const candidate = backupFileName(date, {attempt, encrypted})
    if (!existing.has(candidate)) return candidate
  }
}

/**
 * The snapshot stays on the library's own filesystem, beside it, so the destination only holds
 * the archive; a library on a read-only filesystem snapshots into the staging directory instead.
 */
function snapshotDirectory(databasePath: string, staging: string): string {
  const dir = path.dirname(databasePath)
  try {
    fs.accessSync(dir, fs.constants.W_OK)
    return dir
  } catch {
    return staging
  }
}

/** The snapshot's size: every page, including those still only in the WAL. */
function snapshotSize(live: Database.Database): number {
  const pageCount = live.pragma('page_count', {simple: true}) as number
  const pageSize = live.pragma('page_size', {simple: true}) as number
  return pageCount * pageSize
}

/**
 * The snapshot (the database's size) where it is made, and the archive where it is staged. An
 * archive of a VPO library is about 40% of it; 80% leaves room for libraries that compress worse.
 */
function spaceNeeds(
  databasePath: string,
  destination: Destination,
  databaseSizeBytes: number,
  where: {snapshotDir?: string; staging?: string} = {},
): SpaceNeed[] {
  const onDisk = destination.target.localPath(destination.name ?? 'next.tar.gz') // staged beside it
  const staging = where.staging ?? (onDisk && path.dirname(onDisk))
  return [
    {directory: where.snapshotDir ?? path.dirname(databasePath), bytes: databaseSizeBytes, purpose: 'the snapshot'},
    ...(staging ? [{directory: staging, bytes: Math.ceil(databaseSizeBytes * 0.8), purpose: 'the archive'}] : []),
  ]
}
