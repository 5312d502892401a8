import type Database from 'better-sqlite3'

import fs from 'node:fs'
import path from 'node:path'

import {type BackupMetadata, estimateArchiveSize, writeArchive} from './archive.js'
import {assertSpaceFor} from './disk-space.js'
import {makePrivateDirectory, publishFile} from './durable-files.js'
import {fromSystemError, LibraryBackupError} from './errors.js'
import {assertLibraryExists, openCopy, openLiveLibrary, readLibraryStats, snapshotLibrary} from './library-database.js'
import {acquireLibraryLock, assertLibraryUnlocked} from './library-lock.js'
import {backupFileName, formatCreatedAt, isRegularBackupFileName, timestampFromFileName} from './paths.js'
import {markCommitted, removeAbandonedTemps, removeTemp, tempPathIn} from './temp-files.js'

export type BackupPhase = 'compress' | 'snapshot'
export type BackupProgress = (phase: BackupPhase, done: number, total: number) => void

export interface BackupOptions {
  databasePath: string
  /** Where a backup goes when no --output is given. */
  backupDir: string
  /** --output: a file path, or an existing directory to put the default name in. */
  output?: string
  /** Allow replacing an existing --output file. */
  force?: boolean
  /** After success, keep only this many regular backups in the destination directory. */
  keep?: number
  /** Written into the metadata: the host CLI's version. */
  vpoVersion: string
  onProgress?: BackupProgress
}

export interface BackupResult {
  path: string
  archiveSizeBytes: number
  metadata: BackupMetadata
  durationSeconds: number
  pruned: string[]
}

export interface BackupPlan {
  databasePath: string
  databaseSizeBytes: number
  outputPath: string
  estimatedArchiveSizeBytes: {low: number; high: number}
  fileCount: number
  totalLibrarySizeBytes: number
  schemaVersion: number
}

interface Destination {
  directory: string
  /** The exact file for --output; undefined means "the next free default name in directory". */
  file?: string
}

export async function createBackup(options: BackupOptions): Promise<BackupResult> {
  const started = Date.now()
  const destination = resolveDestination(options)
  assertLibraryExists(options.databasePath)
  const lock = await acquireLibraryLock(options.databasePath)
  try {
    // A restore killed with -9 leaves a database-sized copy beside the library: the lock makes
    // this the moment to take it away.
    removeAbandonedTemps(path.dirname(options.databasePath))
    const archive = await writeBackup({...options, destination, kind: 'backup', assertLockHeld: () => lock.assertHeld()})
    const pruned = options.keep ? pruneBackups(destination.directory, options.keep, archive.path) : []
    return {...archive, durationSeconds: (Date.now() - started) / 1000, pruned}
  } finally {
    await lock.release()
  }
}

/** --dry-run: every check a real run makes, and what it would produce; nothing is created. */
export async function planBackup(options: BackupOptions): Promise<BackupPlan> {
  const destination = resolveDestination(options)
  const live = openLiveLibrary(options.databasePath)
  try {
    await assertLibraryUnlocked(options.databasePath)
    const stats = readLibraryStats(live, options.databasePath)
    const databaseSizeBytes = snapshotSize(live)
    await assertSpaceFor([{directory: destination.directory, bytes: spaceNeeded(databaseSizeBytes), purpose: 'the snapshot and the archive'}])
    return {
      databasePath: options.databasePath,
      databaseSizeBytes,
      outputPath: destination.file ?? firstFreeName(destination.directory, new Date()),
      estimatedArchiveSizeBytes: await estimateArchiveSize(options.databasePath, databaseSizeBytes),
      fileCount: stats.fileCount,
      totalLibrarySizeBytes: stats.totalLibrarySizeBytes,
      schemaVersion: stats.schemaVersion,
    }
  } finally {
    live.close()
  }
}

/**
 * Snapshot, archive and publish, with the library lock already held by the caller. Restore uses
 * this for its safety backup. On any failure no file is left at the final name and no temporary
 * file is left at all.
 */
export async function writeBackup(
  options: Pick<BackupOptions, 'databasePath' | 'force' | 'onProgress' | 'vpoVersion'> & {
    destination: Destination
    kind: 'backup' | 'pre-restore'
    assertLockHeld: () => void
  },
): Promise<Omit<BackupResult, 'durationSeconds' | 'pruned'>> {
  const {destination} = options
  const createdAt = new Date()
  let live: Database.Database | undefined = openLiveLibrary(options.databasePath)
  const snapshotPath = tempPathIn(destination.directory, 'snapshot.db')
  const archivePath = tempPathIn(destination.directory, 'tar.gz')
  try {
    readLibraryStats(live, options.databasePath) // not a VPO library: say so before creating anything
    makePrivateDirectory(destination.directory)
    removeAbandonedTemps(destination.directory)
    const estimate = snapshotSize(live)
    await assertSpaceFor([{directory: destination.directory, bytes: spaceNeeded(estimate), purpose: 'the snapshot and the archive'}])

    options.onProgress?.('snapshot', 0, estimate)
    await snapshotLibrary(live, options.databasePath, snapshotPath)
    live.close()
    live = undefined
    options.onProgress?.('snapshot', estimate, estimate)

    // The statistics describe the snapshot, not the live file, which may have moved on.
    const copy = openCopy(snapshotPath)
    const stats = (() => {
      try {
        return readLibraryStats(copy, options.databasePath)
      } finally {
        copy.close()
      }
    })()

    const written = await writeArchive({
      archivePath,
      databasePath: snapshotPath,
      describe: {
        vpo_version: options.vpoVersion,
        schema_version: stats.schemaVersion,
        created_at: formatCreatedAt(createdAt),
        file_count: stats.fileCount,
        total_library_size_bytes: stats.totalLibrarySizeBytes,
      },
      onProgress: (done, total) => options.onProgress?.('compress', done, total),
    })

    options.assertLockHeld()
    const finalPath = publish(archivePath, destination, createdAt, options)
    if (options.kind === 'backup') markCommitted() // a safety backup is not the restore's commit
    return {path: finalPath, archiveSizeBytes: written.archiveSizeBytes, metadata: written.metadata}
  } catch (error) {
    throw fromSystemError(error, `writing the backup into ${destination.directory}`)
  } finally {
    live?.close()
    removeTemp(snapshotPath)
    removeTemp(archivePath)
  }
}

function publish(
  archivePath: string,
  destination: Destination,
  createdAt: Date,
  options: {force?: boolean; kind: 'backup' | 'pre-restore'},
): string {
  if (destination.file) {
    if (publishFile(archivePath, destination.file, {overwrite: Boolean(options.force)})) return destination.file
    throw outputExists(destination.file)
  }

  // Two backups in the same second get -2, -3, …: an existing backup is never overwritten.
  for (let attempt = 1; ; attempt++) {
    const candidate = path.join(destination.directory, backupFileName(createdAt, {attempt, kind: options.kind}))
    if (publishFile(archivePath, candidate, {overwrite: false})) return candidate
  }
}

/** The name a backup made now would get (publish() settles races; this is for the dry run). */
function firstFreeName(directory: string, date: Date): string {
  for (let attempt = 1; ; attempt++) {
    const candidate = path.join(directory, backupFileName(date, {attempt}))
    if (!fs.existsSync(candidate)) return candidate
  }
}

function resolveDestination(options: Pick<BackupOptions, 'backupDir' | 'force' | 'output'>): Destination {
  if (!options.output) return {directory: options.backupDir}
  const output = path.resolve(options.output)
  const stats = fs.statSync(output, {throwIfNoEntry: false})
  if (stats?.isDirectory()) return {directory: output}
  if (stats && !options.force) throw outputExists(output)
  if (stats && !stats.isFile()) {
    throw new LibraryBackupError('OUTPUT_EXISTS', `${output} exists and is not a regular file; choose another --output.`)
  }

  const directory = path.dirname(output)
  if (!fs.statSync(directory, {throwIfNoEntry: false})?.isDirectory()) {
    throw new LibraryBackupError('IO_ERROR', `The directory ${directory} does not exist; create it first or choose another --output.`)
  }

  return {directory, file: output}
}

function outputExists(output: string): LibraryBackupError {
  return new LibraryBackupError('OUTPUT_EXISTS', `${output} already exists; choose another --output or pass --force to replace it.`)
}

/** The snapshot's size: every page, including those still only in the WAL. */
function snapshotSize(live: Database.Database): number {
  const pageCount = live.pragma('page_count', {simple: true}) as number
  const pageSize = live.pragma('page_size', {simple: true}) as number
  return pageCount * pageSize
}

/** Room for the temporary snapshot plus twice the estimated archive (half the database). */
function spaceNeeded(databaseSizeBytes: number): number {
  return databaseSizeBytes * 2
}

/** Deletes the oldest regular backups in `directory` so that `keep` remain; never pre-restore ones. */
export function pruneBackups(directory: string, keep: number, justCreated: string): string[] {
  const regular = fs
    .readdirSync(directory)
    .filter((name) => isRegularBackupFileName(name))
    .map((name) => ({name, time: timestampFromFileName(name)?.getTime() ?? 0}))
    .sort((a, b) => b.time - a.time || b.name.localeCompare(a.name, 'en', {numeric: true}))
  const justCreatedName = path.basename(justCreated)
  const kept = new Set([justCreatedName])
  for (const {name} of regular) {
    if (kept.size >= keep) break
    kept.add(name)
  }

  const pruned: string[] = []
  for (const {name} of regular) {
    if (kept.has(name)) continue
    const fullPath = path.join(directory, name)
    fs.rmSync(fullPath, {force: true})
    pruned.push(fullPath)
  }

  return pruned
}
