import type Database from 'better-sqlite3'

import fs from 'node:fs'
import path from 'node:path'

import type {BackupOptions, BackupResult} from '../backup.js'
import type {Cancellation} from '../cancellation.js'

import {writeArchive} from '../archive/index.js'
import {encryptStaged} from '../encryption/encrypted-archives.js'
import {fromSystemError, LibraryBackupError} from '../errors.js'
import {assertSpaceFor, type SpaceNeed} from '../fs/disk-space.js'
import {removeAbandonedTemps, removeTemp, removeTempInBackground, tempPathIn} from '../fs/temp-files.js'
import {rollBackHotJournal} from '../library/hot-journal.js'
import {inspectSnapshot, quickCheckInBackground, snapshotStats} from '../library/integrity-check.js'
import {openLiveLibrary, readSchemaVersion, snapshotLibrary} from '../library/library-database.js'
import {type Destination, outputExists} from './backup-destination.js'
import {backupFileName, type BackupKind, formatCreatedAt} from './backup-names.js'
import {newestReadable} from './backup-selection.js'
import {listBackups} from './listing.js'

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
    /** With `force` and a named output: may the backup of `fileCount` files replace the one there? Throws if not. */
    beforeReplacing?: (fileCount: number) => Promise<void>
  },
): Promise<Omit<BackupResult, 'durationSeconds' | 'places' | 'prune' | 'shrink' | 'warnings'>> {
  const {destination} = options
  const createdAt = new Date()
  // Under the library lock: the one moment a backup may let SQLite finish a killed writer's rollback.
  rollBackHotJournal(options.databasePath)
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
      // Made durable only when it is the stored archive itself (renamed into a local directory):
      // one that is encrypted, or uploaded and read back, is a scratch file removed afterwards.
      durable: !options.recipients && destination.target.localPath(destination.name ?? 'next.tar.gz') !== undefined,
      knownMetadata: {
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
    const {beforeReplacing} = options
    const name = await publish(archivePath, destination, createdAt, {
      force: options.force,
      kind,
      encrypted: Boolean(options.recipients),
      beforeReplacing: beforeReplacing && (() => beforeReplacing(Number(stats.fileCount))),
    })
    if (options.kind === 'backup') options.stop?.commit() // a safety backup is not the restore's commit
    return {
      path: destination.target.addressOf(name),
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
  options: {
    encrypted: boolean
    force?: boolean
    kind: Exclude<BackupKind, 'custom'>
    beforeReplacing?: () => Promise<void>
  },
): Promise<string> {
  const {target, name} = destination
  if (name) {
    if (options.force) await options.beforeReplacing?.()
    if (await target.commit(archivePath, name, {overwrite: Boolean(options.force)})) return name
    throw outputExists(target.addressOf(name))
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
export function firstFreeName(existing: Set<string>, date: Date, encrypted: boolean): string {
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
export function snapshotSize(live: Database.Database): number {
  const pageCount = live.pragma('page_count', {simple: true}) as number
  const pageSize = live.pragma('page_size', {simple: true}) as number
  return pageCount * pageSize
}

/**
 * The snapshot (the database's size) where it is made, and the archive where it is staged. An
 * archive of a VPO library is about 40% of it; 80% leaves room for libraries that compress worse.
 */
export function spaceNeeds(
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
