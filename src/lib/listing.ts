import fs from 'node:fs'
import path from 'node:path'

import {type BackupMetadata, readArchiveMetadata} from './archive.js'
import {LibraryBackupError} from './errors.js'
import {isBackupFileName, isPreRestoreFileName, timestampFromFileName} from './paths.js'

export interface ListedBackup {
  filename: string
  path: string
  kind: 'backup' | 'pre-restore'
  archiveSizeBytes: number
  /** Null when the archive cannot be read. */
  metadata: BackupMetadata | null
  /** Why the archive cannot be read. */
  problem?: string
  /** What the listing sorts by: metadata time, else the name's timestamp, else the file's mtime. */
  sortTime: Date
  /** Breaks ties between backups made in the same second (-2, -3, …). */
  modifiedAt: Date
}

export interface BackupListing {
  directory: string
  backups: ListedBackup[]
  totalSizeBytes: number
}

/** How many archives are read at once: metadata-last archives must be read whole. */
const CONCURRENCY = 4

export async function listBackups(directory: string): Promise<BackupListing> {
  const resolved = path.resolve(directory)
  let names: string[]
  try {
    names = await fs.promises.readdir(resolved)
  } catch (error) {
    const {code} = (error as NodeJS.ErrnoException)
    if (code === 'ENOENT') return {directory: resolved, backups: [], totalSizeBytes: 0}
    if (code === 'ENOTDIR') {
      throw new LibraryBackupError('NOT_A_DIRECTORY', `${resolved} is not a directory; pass --path with the directory that holds your backups.`)
    }

    throw new LibraryBackupError('IO_ERROR', `Cannot read ${resolved} (${(error as Error).message}); check its permissions.`)
  }

  const candidates = names.filter((name) => isBackupFileName(name)).sort()
  const listed: Array<ListedBackup | undefined> = Array.from({length: candidates.length})
  let next = 0
  const worker = async () => {
    while (next < candidates.length) {
      const index = next++
      listed[index] = await describe(resolved, candidates[index])
    }
  }

  await Promise.all(Array.from({length: CONCURRENCY}, worker))
  const backups = listed.filter((entry): entry is ListedBackup => entry !== undefined)
  backups.sort(
    (a, b) => b.sortTime.getTime() - a.sortTime.getTime() || b.modifiedAt.getTime() - a.modifiedAt.getTime() || b.filename.localeCompare(a.filename),
  )
  return {directory: resolved, backups, totalSizeBytes: backups.reduce((sum, entry) => sum + entry.archiveSizeBytes, 0)}
}

async function describe(directory: string, filename: string): Promise<ListedBackup | undefined> {
  const fullPath = path.join(directory, filename)
  const stats = await fs.promises.stat(fullPath).catch(() => {})
  if (!stats?.isFile()) return undefined // a directory or a dangling link that happens to match the pattern
  const kind = isPreRestoreFileName(filename) ? 'pre-restore' : 'backup'
  try {
    const metadata = await readArchiveMetadata(fullPath)
    return {
      filename,
      path: fullPath,
      kind,
      archiveSizeBytes: stats.size,
      metadata,
      sortTime: new Date(Date.parse(metadata.created_at)),
      modifiedAt: stats.mtime,
    }
  } catch (error) {
    return {
      filename,
      path: fullPath,
      kind,
      archiveSizeBytes: stats.size,
      metadata: null,
      problem: (error as Error).message,
      sortTime: timestampFromFileName(filename) ?? stats.mtime,
      modifiedAt: stats.mtime,
    }
  }
}
