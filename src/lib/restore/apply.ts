import fs from 'node:fs'
import path from 'node:path'

import type {ArchiveInput} from '../archive/source.js'
import type {Cancellation} from '../cancellation.js'
import type {RestoreOptions} from '../restore.js'
import type {RestorePlan} from './plan.js'

import {LibraryBackupError} from '../errors.js'
import {assertSpaceFor} from '../fs/disk-space.js'
import {makePrivateDirectory, removeEmptyDirectories} from '../fs/durable-files.js'
import {copyOwnership, giveTo, ownerFor} from '../fs/ownership.js'
import {release, removeAbandonedTemps, removeTemp} from '../fs/temp-files.js'
import {acquireLibraryLock, type LibraryLock} from '../library/library-lock.js'
import {checkpointAndSwap} from '../library/library-swap.js'
import {type VerifiedArchive, verifyArchive} from '../repository/verification.js'
import {saveSafetyBackup, withSafetyBackupNote} from './safety-backup.js'

export type ApplyOptions = Pick<RestoreOptions, 'backupDir' | 'confirm' | 'onProgress' | 'vpoVersion'>

export interface AppliedRestore {
  verified: VerifiedArchive
  safetyBackupPath?: string
}

/**
 * Carries out a plan: lock the library, extract the archive beside it and verify it, ask, save the
 * current library, swap. A stop before the swap undoes everything; the swap is the point of no return.
 */
export async function applyRestore(
  plan: RestorePlan,
  archive: ArchiveInput,
  options: ApplyOptions,
  stop: Cancellation,
): Promise<AppliedRestore> {
  const {databasePath} = plan
  const databaseDir = path.dirname(databasePath)
  let createdDir: string | undefined
  let lock: LibraryLock | undefined
  let extracted: string | undefined
  let safetyBackupPath: string | undefined
  let forgetStopCleanup: (() => void) | undefined
  try {
    // 1. A machine with no library yet gets its data directory, taken back if the restore fails.
    createdDir = makePrivateDirectory(databaseDir)
    // A stop while the lock is being taken waits for it and lets it go: an exit in between would leave it.
    const locking = acquireLibraryLock(databasePath)
    const forgetLocking = stop.onStop(async () => (await locking.catch(() => {}))?.releaseSync())
    lock = await locking.finally(forgetLocking)
    const heldLock = lock
    const dirToRemove = createdDir
    // An interrupted command exits without running the finally below: release the lock and take
    // back the directory here.
    forgetStopCleanup = stop.onStop(() => {
      heldLock.releaseSync()
      if (dirToRemove) removeEmptyDirectories(dirToRemove, databaseDir)
    })
    // 2. The plan was made before the lock was held, and two of its answers can change until it
    // is: taking the lock is the re-check that no one else took it since, and the free space is
    // checked only now, once what a killed run left beside the library is removed (which only
    // the lock holder may do) and no other vpo command can be writing there.
    removeAbandonedTemps(databaseDir)
    await assertSpaceFor(plan.spaceNeeds)
    // A library made after the plan (by a second restore onto the same empty machine, say) would
    // otherwise be replaced with no question asked and no safety backup.
    if (!plan.replacesLibrary && fs.existsSync(databasePath)) throw libraryAppeared(databasePath)

    // 3. Extract beside the database (so the swap is a rename), verify, make it durable.
    const verified = await verifyArchive(archive, {
      scratchDir: databaseDir,
      keep: true,
      onProgress: options.onProgress,
    })
    extracted = verified.databasePath!

    // 4. Ask before replacing a library; an empty machine needs no confirmation.
    if (plan.replacesLibrary && !(await options.confirm({databasePath, metadata: verified.metadata}))) {
      throw new LibraryBackupError('RESTORE_DECLINED', `Restore cancelled; ${databasePath} was not changed`)
    }

    // 5. Keep the current library (WAL commits included) as a normal archive.
    if (plan.safetyBackup) {
      safetyBackupPath = await saveSafetyBackup(options, databasePath, lock, {
        recipients: plan.safetyBackup.recipients,
        stop,
      })
    }

    // 6. The swap: synchronous from here, so no signal handler runs in the middle of it. The new
    // file takes the owner, group and mode of the one it replaces, so the daemon can open it.
    const replaced = fs.statSync(databasePath, {throwIfNoEntry: false})
    if (replaced) copyOwnership(replaced, extracted)
    else giveTo(extracted, ownerFor(databaseDir))
    lock.assertHeld()
    stop.throwIfStopping()
    checkpointAndSwap(databasePath, extracted)
    stop.commit()
    release(extracted)
    extracted = undefined
    createdDir = undefined
    return {verified, safetyBackupPath}
  } catch (error) {
    throw safetyBackupPath ? withSafetyBackupNote(error, safetyBackupPath) : error
  } finally {
    forgetStopCleanup?.()
    if (extracted) removeTemp(extracted)
    await lock?.release()
    if (createdDir) removeEmptyDirectories(createdDir, databaseDir)
  }
}

function libraryAppeared(databasePath: string): LibraryBackupError {
  return new LibraryBackupError(
    'DATABASE_LOCKED',
    `A library appeared at ${databasePath} while this restore was starting, so it was left as it is and nothing was restored`,
    {hint: 'Run the restore again: it will ask before replacing that library and save it as a safety backup first.'},
  )
}
