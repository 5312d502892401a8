import type {Cancellation} from '../cancellation.js'
import type {AgeRecipient} from '../encryption/index.js'
import type {LibraryLock} from '../library/library-lock.js'
import type {RestoreOptions} from '../restore.js'

import {LibraryBackupError} from '../errors.js'
import {writeBackup} from '../repository/write-backup.js'
import {LocalDirectory} from '../storage/local-directory.js'

/** Saves the library about to be replaced as a pre-restore backup; its failures say nothing was changed. */
export async function saveSafetyBackup(
  options: Pick<RestoreOptions, 'backupDir' | 'onProgress' | 'vpoVersion'>,
  databasePath: string,
  lock: LibraryLock,
  {recipients, stop}: {recipients?: AgeRecipient[]; stop: Cancellation},
): Promise<string> {
  try {
    const saved = await writeBackup({
      stop,
      databasePath,
      destination: {target: new LocalDirectory(options.backupDir)},
      kind: 'pre-restore',
      recipients,
      // The library being replaced may be damaged (that is often why it is being restored).
      allowDamaged: true,
      vpoVersion: options.vpoVersion,
      assertLockHeld: () => lock.assertHeld(),
      onProgress: (_phase, done, total) => options.onProgress?.('safety-backup', done, total),
    })
    return saved.path
  } catch (error) {
    const err = error as LibraryBackupError
    if (err.code === 'DATABASE_LOCKED') throw err
    if (err.code === 'INSUFFICIENT_SPACE') {
      throw new LibraryBackupError(
        'INSUFFICIENT_SPACE',
        `Not enough disk space to save the current library as a safety backup in ${options.backupDir}; nothing was changed`,
        {
          cause: error,
          hint: 'Free some space, or pass --no-safety-backup to restore without one.',
        },
      )
    }

    throw new LibraryBackupError(
      'SAFETY_BACKUP_FAILED',
      `Could not save the current library before replacing it (${err.message}); nothing was changed`,
      {
        cause: error,
        hint: 'Fix that, or pass --no-safety-backup to replace it without a safety backup.',
      },
    )
  }
}

/** A restore that fails after its safety backup was written says so: that file is new. */
export function withSafetyBackupNote(error: unknown, safetyBackupPath: string): unknown {
  if (!(error instanceof LibraryBackupError)) return error
  return new LibraryBackupError(
    error.code,
    `${error.message} (the safety backup made for this restore stays at ${safetyBackupPath})`,
    {
      cause: error,
      hint: error.hint,
    },
  )
}
