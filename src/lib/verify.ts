import os from 'node:os'

import {type BackupMetadata, quickCheckArchive} from './archive/index.js'
import {type Duration, formatDuration, subtractDuration} from './duration.js'
import {type ArchiveKeys, lockedArchiveError} from './encryption/encrypted-archives.js'
import {LibraryBackupError} from './errors.js'
import {backupsToVerify, CLOCK_SKEW_MS, isDeliberate, newestVerified} from './repository/backup-selection.js'
import {listBackups, type ListedBackup} from './repository/listing.js'
import {withLocalArchiveInput, withLocalPlainArchive} from './repository/local-plain-archive.js'
import {verifyArchive} from './repository/verification.js'
import {checkWhole, type Wholeness} from './repository/wholeness.js'
import {locateArchive, openTarget} from './storage/locations.js'

export interface VerifyOptions {
  /** Archives named on the command line (paths or URLs); when empty, every backup in `location`. */
  archives: string[]
  /** The backup directory or s3:// prefix. */
  location: string
  latest?: boolean
  /** Structure only: gzip members and tar headers, no database check. */
  quick?: boolean
  maxAge?: Duration
  now?: Date
  /** Identities for encrypted backups. */
  keys?: ArchiveKeys
}

export interface BackupCheck {
  path: string
  ok: boolean
  problem?: string
  metadata?: BackupMetadata
  checksumVerified?: boolean
  /** When the backup was made: its metadata, else its name. */
  createdAt?: Date
  /** Regular or custom-named, not a safety backup: counts for --max-age. */
  deliberate?: boolean
  /** Encrypted, and no given identity opens it: not verified, not known to be bad (`problem` says why). */
  locked?: LibraryBackupError
}

export interface VerifyReport {
  /** The directory or prefix, when the backups came from one. */
  directory?: string
  checks: BackupCheck[]
  /** The newest backup that verified. */
  newestGood?: BackupCheck
  /** Set with --max-age: whether the newest good backup is recent enough. */
  fresh?: boolean
  /** The newest backup that verified but is dated in the future beyond clock skew: never fresh. */
  futureDated?: BackupCheck
}

/**
 * Checks backups as a restore would, without touching the live library: the archive's structure,
 * metadata, size and sha256 while its database streams into a scratch file in the temp directory,
 * then quick_check (the code `restore --dry-run` runs). `quick` reads member headers only.
 */
export async function verifyBackups(options: VerifyOptions): Promise<VerifyReport> {
  const located =
    options.archives.length > 0
      ? await Promise.all(options.archives.map(async (archive) => locateArchive(archive)))
      : undefined
  let directory: string | undefined
  let entries: Array<{
    createdAt?: Date
    deliberate?: boolean
    listed?: ListedBackup
    name: string
    target: Awaited<ReturnType<typeof openTarget>>
  }>
  if (located) {
    // Named archives are checked as named (--latest takes none; given some, the first).
    entries = options.latest ? located.slice(0, 1) : located
  } else {
    const target = await openTarget(options.location)
    const listing = await listBackups(target, {identities: options.keys?.identities})
    directory = listing.directory
    entries = backupsToVerify(listing, {latest: options.latest, now: options.now}).map((entry) => ({
      target,
      name: entry.filename,
      createdAt: entry.sortTime,
      deliberate: isDeliberate(entry),
      listed: entry,
    }))
    if (entries.length === 0) {
      const skipped = listing.backups.length
      // Files are there, just none this command checks: say so, or "no backups" reads as a lie.
      const why =
        skipped > 0
          ? ` (${skipped} ${skipped === 1 ? 'is a damaged or safety backup' : 'are damaged or safety backups'}, which ${options.latest ? '--latest does not pick' : 'are not checked'})`
          : ''
      // With --max-age the caller is a monitor asking "is there a recent good backup?": none at all
      // is the loudest "no", and must exit 9 like a stale one, not 1 like a typo in a path.
      if (options.maxAge) {
        throw new LibraryBackupError(
          'BACKUP_STALE',
          `No backups found in ${listing.directory}${why}, so none is younger than ${formatDuration(options.maxAge)}`,
          {
            hint: 'Check that the scheduled vpo library:backup runs and succeeds, and that --path names where it writes.',
          },
        )
      }

      throw new LibraryBackupError('BACKUP_NOT_FOUND', `No backups found in ${listing.directory}${why}`, {
        hint: 'Create one with: vpo library:backup',
      })
    }
  }

  const checks: BackupCheck[] = []
  for (const entry of entries) {
    checks.push({
      ...(await check(entry, {quick: Boolean(options.quick), keys: options.keys ?? {}})),
      deliberate: entry.deliberate ?? true,
    })
  }

  const now = options.now ?? new Date()
  const {newest: newestGood, futureDated} = newestVerified(checks, now)
  const fresh = options.maxAge
    ? Boolean(newestGood && newestGood.createdAt! >= subtractDuration(now, options.maxAge))
    : undefined
  return {directory, checks, newestGood, fresh, ...(futureDated ? {futureDated} : {})}
}

async function check(
  entry: {createdAt?: Date; listed?: ListedBackup; name: string; target: Awaited<ReturnType<typeof openTarget>>},
  how: {keys: ArchiveKeys; quick: boolean},
): Promise<BackupCheck> {
  const {createdAt: listedAt, listed, name, target} = entry
  const archivePath = target.addressOf(name)
  try {
    // The listing's answer, or the same check for a named archive: a damaged one is not downloaded.
    const wholeness = listed ?? (await wholenessOf(target, name, how.keys))
    if (wholeness?.whole === false)
      return {path: archivePath, ok: false, problem: wholeness.problem, createdAt: listedAt}
    if (wholeness?.locked)
      return {
        path: archivePath,
        ok: false,
        problem: wholeness.problem,
        createdAt: listedAt,
        locked: keyError(archivePath, how.keys),
      }
    if (how.quick)
      return await withLocalPlainArchive({target, name}, how.keys, async (plainPath) => {
        const metadata = await quickCheckArchive(plainPath)
        return {path: archivePath, ok: true, metadata, createdAt: new Date(Date.parse(metadata.created_at))}
      })
    // Read as restore --dry-run reads it: an encrypted archive decrypted as it is read, no copy.
    return await withLocalArchiveInput({target, name}, how.keys, async (input) => {
      const verified = await verifyArchive(input, {scratchDir: os.tmpdir()})
      return {
        path: archivePath,
        ok: true,
        metadata: verified.metadata,
        checksumVerified: verified.checksumVerified,
        createdAt: new Date(Date.parse(verified.metadata.created_at)),
      }
    })
  } catch (error) {
    // Only the archive's own faults count as "does not verify"; a full disk or a lost
    // connection is the machine's problem, and stops the run with its own exit code.
    const {code} = error as LibraryBackupError
    // One backup no key opens does not stop the others being checked; the report names it.
    if (code === 'KEY_ERROR')
      return {
        path: archivePath,
        ok: false,
        problem: (error as Error).message,
        createdAt: listedAt,
        locked: error as LibraryBackupError,
      }
    if (code !== 'INVALID_ARCHIVE' && code !== 'UNSUPPORTED_ARCHIVE') throw error
    return {path: archivePath, ok: false, problem: (error as Error).message, createdAt: listedAt}
  }
}

/** A named archive the listing would show: checked for wholeness first; one not found is left to the reader. */
async function wholenessOf(
  target: Awaited<ReturnType<typeof openTarget>>,
  name: string,
  keys: ArchiveKeys,
): Promise<undefined | Wholeness> {
  const found = await target.stat(name)
  return found ? checkWhole(target, name, {identities: keys.identities, sizeBytes: found.sizeBytes}) : undefined
}

function keyError(archivePath: string, keys: ArchiveKeys): LibraryBackupError {
  return lockedArchiveError(archivePath, keys.identities)
}

export function staleError(report: VerifyReport, maxAge: Duration): LibraryBackupError {
  const newest = report.newestGood
  const future = report.futureDated
  const ahead = future
    ? `; ${future.path} is dated ${future.metadata!.created_at}, ahead of this machine's clock by more than ${CLOCK_SKEW_MS / 60_000} minutes, so it does not count (check the clock where it was made)`
    : ''
  const what =
    (newest
      ? `The newest good backup, ${newest.path}, was made at ${newest.metadata!.created_at}, longer ago than ${formatDuration(maxAge)}`
      : future
        ? `No good backup is dated in the past, so none is younger than ${formatDuration(maxAge)}`
        : `No backup verified, so none is younger than ${formatDuration(maxAge)}`) + ahead
  return new LibraryBackupError('BACKUP_STALE', what, {
    hint: 'Check that the scheduled vpo library:backup runs and succeeds.',
  })
}
