import type lockfileModule from 'proper-lockfile'

import fs from 'node:fs'
import {createRequire} from 'node:module'

import {LibraryBackupError} from '../errors.js'
import {canonicalPath} from '../fs/durable-files.js'

/**
 * The VPO daemon and every vpo command that touches the library take a proper-lockfile lock on
 * the database path (the directory `library.db.lock`). Holding the same lock is what keeps a
 * backup, a restore and a daemon start from interleaving.
 */
const STALE_MS = 10_000

let lockfileLoaded: typeof lockfileModule | undefined
/** proper-lockfile (and graceful-fs under it) costs tens of milliseconds to load: only when locking. */
export function lockfile(): typeof lockfileModule {
  lockfileLoaded ??= createRequire(import.meta.url)('proper-lockfile') as typeof lockfileModule
  return lockfileLoaded
}

export interface LibraryLock {
  /** Throws if the lock was lost while we worked (its directory removed or taken over). */
  assertHeld(): void
  release(): Promise<void>
  /** For signal handlers, which cannot wait. */
  releaseSync(): void
}

/** The path the lock is taken on: symlinks resolved, so every route to one library shares one lock. */
export function lockTarget(databasePath: string): string {
  return canonicalPath(databasePath)
}

export function lockDirectory(databasePath: string): string {
  return `${lockTarget(databasePath)}.lock`
}

export async function acquireLibraryLock(databasePath: string): Promise<LibraryLock> {
  const target = lockTarget(databasePath)
  let compromised: Error | undefined
  let releaseLock: () => Promise<void>
  try {
    releaseLock = await lockfile().lock(target, {
      realpath: false,
      retries: 0,
      stale: STALE_MS,
      onCompromised(error) {
        compromised = error
      },
    })
  } catch (error) {
    throw toLockError(error, databasePath)
  }

  return {
    assertHeld() {
      if (compromised) {
        throw new LibraryBackupError(
          'DATABASE_LOCKED',
          `Lost the lock on ${databasePath} while working (${compromised.message}), so nothing was changed`,
          {
            hint: 'Another process may be using the library; try again.',
          },
        )
      }
    },
    async release() {
      if (compromised) return
      await releaseLock().catch(() => {})
    },
    releaseSync() {
      if (compromised) return
      try {
        lockfile().unlockSync(target, {realpath: false})
      } catch {
        // Already released.
      }
    },
  }
}

/** For --dry-run: reports the lock a real run would hit, without creating anything. */
export async function assertLibraryUnlocked(databasePath: string): Promise<void> {
  const locked = await lockfile()
    .check(lockTarget(databasePath), {realpath: false, stale: STALE_MS})
    .catch(() => false)
  if (locked) throw lockedError(databasePath)
}

function toLockError(error: unknown, databasePath: string): LibraryBackupError {
  const err = error as NodeJS.ErrnoException
  if (err.code === 'ELOCKED') return lockedError(databasePath)
  return new LibraryBackupError('IO_ERROR', `Could not lock ${databasePath} (${err.message})`, {
    cause: error,
    hint: 'Check that its directory exists and is writable.',
  })
}

function lockedError(databasePath: string): LibraryBackupError {
  return new LibraryBackupError(
    'DATABASE_LOCKED',
    `The library ${databasePath} is locked by another process (the VPO daemon or another vpo command)`,
    {
      hint: `Stop the daemon or wait for that command to finish, then try again${staleHint(databasePath)}.`,
    },
  )
}

/** If the holder died, proper-lockfile takes the lock over once it is stale: say when. */
function staleHint(databasePath: string): string {
  try {
    const age = Date.now() - fs.statSync(lockDirectory(databasePath)).mtimeMs
    const wait = Math.max(1, Math.ceil((STALE_MS - age) / 1000))
    return ` (if its holder has died, the lock counts as stale and is taken over in about ${wait} s)`
  } catch {
    return ''
  }
}
