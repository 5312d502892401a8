import os from 'node:os'

import type {BackupTarget} from './storage/target.js'

import {namingTheBackup} from './backup-naming.js'
import {type ArchiveKeys, withPlainArchive} from './encrypted-archives.js'

/**
 * The one way to read a stored archive whole: fetched from its target (a local file is used in
 * place), decrypted when it is an age file (every chunk authenticated before `work` reads a
 * byte), and handed to `work` as a local plain `.tar.gz`. Restore, verify and the wholeness check
 * behind listing and copy all read through here. Downloads and decrypted copies live in
 * `scratchDir` (the temp directory when omitted) and are removed afterwards; an error raised while
 * reading them names the backup as the user gave it, never the scratch file.
 */
export async function withLocalPlainArchive<T>(
  {name, target}: {name: string; target: BackupTarget},
  keys: ArchiveKeys,
  work: (plainPath: string, encrypted: boolean) => Promise<T>,
  options: {scratchDir?: string} = {},
): Promise<T> {
  const scratchDir = options.scratchDir ?? os.tmpdir()
  const label = target.describe(name)
  const fetched = await target.fetch(name, scratchDir)
  try {
    return await namingTheBackup(fetched.path, label, () => withPlainArchive(fetched.path, keys, scratchDir, work))
  } finally {
    fetched.dispose()
  }
}
