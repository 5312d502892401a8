import crypto from 'node:crypto'
import os from 'node:os'
import path from 'node:path'

import type {BackupTarget} from '../storage/target.js'

import {LibraryBackupError} from '../errors.js'
import {canonicalPath} from '../fs/durable-files.js'
import {makeDirectories} from '../fs/make-directories.js'
import {lockfile} from '../library/library-lock.js'

/** How long a prune waits for another prune of the same backups to finish: prunes take seconds. */
export const LOCATION_LOCK_WAIT_MS = 20_000
const RETRY_MS = 250
const STALE_MS = 10_000

/**
 * One prune at a time per backup location: two at once each listed the same backups and each
 * reported as kept what the other deleted. A directory on disk is locked with proper-lockfile on
 * `.vpo-backups` inside it (the lock is the directory `.vpo-backups.lock`, which no listing
 * shows). A target with no files on disk (an s3:// prefix) has no lock of its own, so it is
 * locked on this machine only, with a lock keyed by the store's endpoint and the URL in a private
 * directory under the temp directory: two hosts pruning one bucket are not kept apart.
 */
export function locationLockFile(target: Pick<BackupTarget, 'localPath' | 'location'>): string {
  const beside = target.localPath('.vpo-backups')
  if (beside !== undefined) return path.join(canonicalPath(path.dirname(beside)), '.vpo-backups')
  const store = `${process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL ?? 'aws'} ${target.location}`
  const key = crypto.createHash('sha256').update(store).digest('hex').slice(0, 32)
  return path.join(os.tmpdir(), `vpo-backup-locks-${process.getuid?.() ?? 'user'}`, key)
}

/**
 * Runs `work` holding the location's lock, waiting (at most `waitMs`, answering signals, as the
 * waits are timers) while another process holds it.
 */
export async function withLocationLock<T>(
  target: Pick<BackupTarget, 'localPath' | 'location'>,
  work: () => Promise<T>,
  options: {createdPath?: string; waitMs?: number} = {},
): Promise<T> {
  const waitMs = options.waitMs ?? LOCATION_LOCK_WAIT_MS
  const file = locationLockFile(target)
  const release = await acquire(file, target.localPath('.vpo-backups') === undefined, Date.now() + waitMs)
  if (release === 'locked') throw lockedError(target.location, waitMs, options.createdPath)
  try {
    return await work()
  } finally {
    if (release) await release().catch(() => {})
  }
}

/**
 * The lock, 'locked' when another process held it all along, or undefined when it cannot be made.
 * Retried here, not by proper-lockfile, which would retry a missing directory for the whole wait.
 */
async function acquire(
  file: string,
  inPrivateDirectory: boolean,
  deadline: number,
): Promise<'locked' | (() => Promise<void>) | undefined> {
  for (;;) {
    try {
      if (inPrivateDirectory) makeDirectories(path.dirname(file), 0o700)
      return await lockfile().lock(file, {
        realpath: false,
        stale: STALE_MS,
        // A lost lock (its directory removed by hand) is not worth failing a prune under way.
        onCompromised() {},
      })
    } catch (error) {
      // The lock only keeps prunes apart. Where it cannot be made (a missing or read-only
      // directory, a lock directory someone else owns), the prune goes on and meets, and reports,
      // any real problem itself.
      if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') return undefined
      if (Date.now() + RETRY_MS > deadline) return 'locked'
    }

    // A timer, not a busy loop: Ctrl-C and SIGTERM are answered while waiting.
    await new Promise((resolve) => {
      setTimeout(resolve, RETRY_MS)
    })
  }
}

function lockedError(location: string, waitMs: number, createdPath?: string): LibraryBackupError {
  const busy = `another vpo command is pruning the backups in ${location} and did not finish within ${Math.round(waitMs / 1000)} s, so nothing was pruned`
  return new LibraryBackupError(
    'BACKUPS_LOCKED',
    createdPath ? `The backup ${createdPath} was created, but ${busy}` : busy[0].toUpperCase() + busy.slice(1),
    {hint: 'Let it finish, then run this again (a lock left by a killed process counts as stale after 10 s).'},
  )
}
