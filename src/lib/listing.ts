import type {IdentitySet} from './encryption/index.js'
import type {BackupTarget, StoredArchive} from './storage/target.js'

import {
  type ArchiveHead,
  type BackupMetadata,
  HEAD_BYTES,
  quickCheckArchive,
  readHead,
  structureProblem,
} from './archive.js'
import {type BackupKind, compareNewestFirst, isBackupFileName, parseBackupName} from './backup-names.js'
import {decryptedHead, isEncryptedHead} from './encrypted-archives.js'
import {unreadableBackup} from './unreadable-backup.js'

export interface ListedBackup {
  filename: string
  /** A path, or an s3:// URL. */
  path: string
  kind: BackupKind
  encrypted: boolean
  archiveSizeBytes: number
  /** Null when the archive cannot be read. */
  metadata: BackupMetadata | null
  /** Why the archive cannot be read. */
  problem?: string
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
/** An age header (a few hundred bytes per recipient) and the first 64 KiB chunk fit in this. */
const ENCRYPTED_HEAD_BYTES = 128 * 1024

export async function listBackups(
  target: BackupTarget,
  options: {identities?: IdentitySet} = {},
): Promise<BackupListing> {
  const stored = await target.list(isBackupFileName)
  const backups = await mapConcurrently(stored, CONCURRENCY, async (entry) =>
    describe(target, entry, options.identities),
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

/**
 * Backups made on purpose (regular or custom-named): what `--latest` and `--max-age` look at. A
 * pre-restore safety backup is newer than the backup restored after it, and restoring "the latest"
 * must not quietly undo that restore; a damaged one is kept for its data, not to restore blindly.
 */
export function isDeliberate(entry: {kind: BackupKind}): boolean {
  return entry.kind === 'regular' || entry.kind === 'custom'
}

/** The newest deliberate backup whose metadata reads: what `restore --latest` restores. */
export function newestReadable(listing: BackupListing): ListedBackup | undefined {
  return listing.backups.find((entry) => entry.metadata !== null && isDeliberate(entry))
}

async function describe(target: BackupTarget, entry: StoredArchive, identities?: IdentitySet): Promise<ListedBackup> {
  const name = parseBackupName(entry.name)!
  const base = {
    filename: entry.name,
    path: target.describe(entry.name),
    kind: name.kind,
    encrypted: name.encrypted,
    archiveSizeBytes: entry.sizeBytes,
  }
  try {
    const head = await readMetadata(target, entry, identities)
    if ('locked' in head) {
      return {
        ...base,
        encrypted: true,
        metadata: null,
        locked: true,
        problem: head.locked,
        sortTime: name.time ?? entry.modifiedAt,
      }
    }

    if (head.encrypted) base.encrypted = true
    const problem = head.structure === undefined ? undefined : await head.structure()
    if (problem)
      return {
        ...base,
        metadata: null,
        problem: `${base.path} is not a valid VPO backup: ${problem}`,
        sortTime: name.time ?? entry.modifiedAt,
      }
    return {...base, metadata: head.metadata, sortTime: new Date(Date.parse(head.metadata.created_at))}
  } catch (error) {
    return {
      ...base,
      metadata: null,
      problem: unreadableBackup(base.path, error),
      sortTime: name.time ?? entry.modifiedAt,
    }
  }
}

/**
 * This plugin's archives carry their metadata in the first kilobytes; a local one is also checked
 * for wholeness from its member headers. VPO's Python layout puts the metadata last, so such an
 * archive is read through (fetched first when remote).
 */
async function readMetadata(
  target: BackupTarget,
  entry: StoredArchive,
  identities?: IdentitySet,
): Promise<
  {encrypted?: boolean; metadata: BackupMetadata; structure?: () => Promise<string | undefined>} | {locked: string}
> {
  const label = target.describe(entry.name)
  const raw = await target.readHead(entry.name, ENCRYPTED_HEAD_BYTES)
  if (isEncryptedHead(raw)) {
    // Only the first chunk is decrypted (and authenticated); age protects the rest, checked whole
    // by verify and restore.
    if (!identities)
      return {
        locked: `${label} is encrypted; pass --identity FILE (or set VPO_BACKUP_IDENTITY_FILE) to read its metadata`,
      }
    const plain = await decryptedHead(raw, identities, HEAD_BYTES, label).catch(
      (error: {code?: string; message: string}) => {
        if (error.code === 'KEY_ERROR') return error.message
        throw error
      },
    )
    if (typeof plain === 'string') return {locked: plain}
    const head = readHead(plain, label)
    if (!head)
      throw new Error(
        `${label} is encrypted in a layout whose metadata is not at its head; run vpo library:verify on it`,
      )
    return {encrypted: true, metadata: head.metadata}
  }

  const head: ArchiveHead | undefined = readHead(raw.subarray(0, HEAD_BYTES), label)
  if (head) {
    if (target.remote) return {metadata: head.metadata}
    const local = await target.fetch(entry.name, target.location)
    return {metadata: head.metadata, structure: () => structureProblem(local.path, head)}
  }

  const local = await target.fetch(entry.name, target.location)
  try {
    // Without the index, wholeness is only known by reading to the end: an archive whose metadata
    // comes first in one gzip member (tarfile rewriting ours) would otherwise list as readable
    // when cut short, and `restore --latest` would pick it over an older whole one.
    return {metadata: await quickCheckArchive(local.path)}
  } finally {
    local.dispose()
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
