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
  const replaced = await replacementDrop(target, name, fileCount, options)
  if (!replaced) return
  throw new LibraryBackupError(
    'LIBRARY_SHRANK',
    `The library shrank from ${formatCount(replaced.fileCount)} to ${formatCount(fileCount)} files (more than --max-shrink ${options.maxShrinkPercent}%) since ${replaced.path} was made, so it was not replaced${options.copy ? '' : ': no backup was written and nothing was pruned'}`,
    {
      hint: 'If media drives were not mounted, mount them and rescan; if the files were removed on purpose, pass --accept-shrink to replace it.',
    },
  )
}

/**
 * FILE as it is at `target`, when replacing it with a backup of `fileCount` files would be a drop
 * of more than allowed; undefined when there is none, or it is damaged or its count unknown
 * (nothing to keep).
 */
export async function replacementDrop(
  target: BackupTarget,
  name: string,
  fileCount: number,
  options: Pick<ShrinkOptions, 'dataDir' | 'maxShrinkPercent'>,
): Promise<undefined | {fileCount: number; path: string}> {
  const existing = await target.stat(name)
  if (!existing) return undefined
  const previous = await fileCountOf(target, existing, options.dataDir)
  if (previous === undefined || !shrank(previous, fileCount, options.maxShrinkPercent)) return undefined
  return {fileCount: previous, path: target.addressOf(name)}
}

async function fileCountOf(
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
