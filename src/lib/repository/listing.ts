import type {IdentitySet} from '../encryption/index.js'
import type {BackupTarget, StoredArchive} from '../storage/target.js'

import {type BackupMetadata} from '../archive/index.js'
import {type BackupKind, compareNewestFirst, isBackupFileName, parseBackupName} from './backup-names.js'
import {unreadableBackup} from './unreadable-backup.js'
import {checkWhole} from './wholeness.js'

// Which backup to pick is decided in backup-selection.ts; prune still imports this one from here.

export interface ListedBackup {
  filename: string
  /** A path, or an s3:// URL. */
  path: string
  kind: BackupKind
  encrypted: boolean
  archiveSizeBytes: number
  /**
   * Whether its bytes are all there (wholeness.ts): false means damaged, null that it could not
   * be told (encrypted with no key and no recorded length, or the read failed).
   */
  whole: boolean | null
  /** Null when the archive cannot be read. */
  metadata: BackupMetadata | null
  /** Why the archive cannot be read. */
  problem?: string
  /** Why it is damaged, in a few words; set exactly when `whole` is false. */
  damage?: string
  /** The store or disk failed to answer (not an archive fault): a prune must not act on this listing. */
  readError?: unknown
  /** Encrypted, and no given identity opens it: unread, not known to be bad. */
  locked?: boolean
  /** What "newest" is measured by: metadata time, else the name's timestamp, else the file's mtime. */
  sortTime: Date
}

export interface BackupListing {
  /** The directory or s3:// prefix listed. */
  directory: string
  /** Newest first, by the one definition in backup-names.ts. */
  backups: ListedBackup[]
  totalSizeBytes: number
}

/** How many archives are read at once: heads are small, but an object store wants several in flight. */
const CONCURRENCY = 8

export async function listBackups(
  target: BackupTarget,
  options: {identities?: IdentitySet} = {},
): Promise<BackupListing> {
  const stored = await target.list(isBackupFileName)
  const backups = await mapConcurrently(stored, CONCURRENCY, async (entry) =>
    readListedBackup(target, entry, options.identities),
  )
  backups.sort((a, b) =>
    compareNewestFirst({name: a.filename, createdAt: a.sortTime}, {name: b.filename, createdAt: b.sortTime}),
  )
  return {
    directory: target.location,
    backups,
    totalSizeBytes: backups.reduce((sum, entry) => sum + entry.archiveSizeBytes, 0),
  }
}

async function readListedBackup(
  target: BackupTarget,
  entry: StoredArchive,
  identities?: IdentitySet,
): Promise<ListedBackup> {
  const name = parseBackupName(entry.name)!
  const base = {
    filename: entry.name,
    path: target.addressOf(entry.name),
    kind: name.kind,
    encrypted: name.encrypted,
    archiveSizeBytes: entry.sizeBytes,
  }
  const undated = name.time ?? entry.modifiedAt
  try {
    const check = await checkWhole(target, entry.name, {identities, sizeBytes: entry.sizeBytes})
    const {whole, metadata, problem, damage, locked} = check
    return {
      ...base,
      encrypted: base.encrypted || check.encrypted,
      whole,
      metadata,
      ...(problem === undefined ? {} : {problem}),
      ...(damage === undefined ? {} : {damage}),
      ...(locked ? {locked} : {}),
      sortTime: metadata ? new Date(Date.parse(metadata.created_at)) : undated,
    }
  } catch (error) {
    // The store or the disk did not answer: not known to be bad, but not read either.
    return {
      ...base,
      whole: null,
      metadata: null,
      problem: unreadableBackup(base.path, error),
      readError: error,
      sortTime: undated,
    }
  }
}

async function mapConcurrently<T, R>(items: T[], concurrency: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = Array.from({length: items.length})
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const index = next++
      results[index] = await work(items[index])
    }
  }

  await Promise.all(Array.from({length: Math.min(concurrency, items.length)}, worker))
  return results
}
