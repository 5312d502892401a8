import type {BackupTarget} from '../storage/target.js'
import type {ShrinkOptions} from './shrink-runs.js'

import {LibraryBackupError} from '../errors.js'
import {formatCount} from '../format.js'
import {destinationKey, loadHistory} from './backup-history.js'
import {shrank} from './shrink-guard.js'
import {checkWhole} from './wholeness.js'

/**
 * Before `--output FILE --force` replaces FILE: a backup of a library that lost more than allowed
 * must not take the place of the backup it would be compared with. A name outside the listing
 * (`latest.tar.gz`) is never in the guard's walk, so without this check the one good backup is
 * overwritten and the run exits 0. Throws exit 11 with FILE unchanged.
 */
export async function assertReplacementKeepsFiles(
  target: BackupTarget,
  name: string,
  fileCount: number,
  options: ShrinkOptions & {
    /** A --copy-to place: the backup was written at the primary location already. */
    copy?: boolean
  },
): Promise<void> {
  if (options.accept) return
  const existing = await target.stat(name)
  if (!existing) return
  const previous = await replacedFileCount(target, existing, options.dataDir)
  if (previous === undefined || !shrank(previous, fileCount, options.maxShrinkPercent)) return
  throw new LibraryBackupError(
    'LIBRARY_SHRANK',
    `The library shrank from ${formatCount(previous)} to ${formatCount(fileCount)} files (more than --max-shrink ${options.maxShrinkPercent}%) since ${target.addressOf(name)} was made, so it was not replaced${options.copy ? '' : ': no backup was written and nothing was pruned'}`,
    {
      hint: 'If media drives were not mounted, mount them and rescan; if the files were removed on purpose, pass --accept-shrink to replace it.',
    },
  )
}

/** The file count of the archive about to be replaced; undefined when it is damaged or unknown (nothing to keep). */
export async function replacedFileCount(
  target: BackupTarget,
  existing: {name: string; sizeBytes: number},
  dataDir: string,
): Promise<number | undefined> {
  const check = await checkWhole(target, existing.name, {sizeBytes: existing.sizeBytes})
  if (check.whole === false) return undefined
  if (check.metadata) return Number(check.metadata.file_count)
  // Encrypted, and this machine has no identity: the record kept when it was made here.
  if (!check.locked) return undefined
  return loadHistory(dataDir).content.destinations[destinationKey(target.location)]?.backups[existing.name]?.file_count
}
