import os from 'node:os'

import type {ArchiveInput} from '../archive/source.js'
import type {BackupTarget} from '../storage/target.js'

import {type ArchiveKeys, withArchiveInput, withPlainArchive} from '../encryption/encrypted-archives.js'
import {ageFileKind, HEAD_BYTES} from '../encryption/format.js'
import {namingTheBackup} from './backup-naming.js'

interface StoredArchiveRef {
  name: string
  target: BackupTarget
}

/**
 * The one way to read a stored archive whole: fetched from its target (a local file is used in
 * place), decrypted when it is an age file (every chunk authenticated before `work` reads a
 * byte), and handed to `work` as a local plain `.tar.gz`. Verify and the wholeness check behind
 * listing and copy read through here; restore reads through `withLocalArchiveInput` below, the
 * same fetch without a decrypted copy. Downloads and decrypted copies live in `scratchDir` (the
 * temp directory when omitted) and are removed afterwards; an error raised while reading them
 * names the backup as the user gave it, never the scratch file.
 */
export async function withLocalPlainArchive<T>(
  archive: StoredArchiveRef,
  keys: ArchiveKeys,
  work: (plainPath: string, encrypted: boolean) => Promise<T>,
  options: {scratchDir?: string} = {},
): Promise<T> {
  const scratchDir = options.scratchDir ?? os.tmpdir()
  return withFetched(archive, scratchDir, (fetchedPath) => withPlainArchive(fetchedPath, keys, scratchDir, work))
}

/**
 * The same archive as a stream to read once: an encrypted one is decrypted as it is read, each
 * chunk authenticated before its bytes reach the gzip and tar readers, and no decrypted copy is
 * written (a restore, which reads the archive once, needs none).
 */
export async function withLocalArchiveInput<T>(
  archive: StoredArchiveRef,
  keys: ArchiveKeys,
  work: (input: ArchiveInput, encrypted: boolean) => Promise<T>,
): Promise<T> {
  return withFetched(archive, os.tmpdir(), (fetchedPath) => withArchiveInput(fetchedPath, keys, work))
}

/**
 * withLocalArchiveInput for a restore: a plain archive in an object store is read as it
 * downloads, so inflating overlaps the transfer. The reader ends every full read with finish(),
 * which waits for the download to be whole and checked, so nothing read this way is used unless
 * the download succeeded. An encrypted archive is waited for whole, then unlocked and decrypted
 * as it is read, exactly as a fetched one: its reader opens the file by name.
 */
export async function withStreamedArchiveInput<T>(
  archive: StoredArchiveRef,
  keys: ArchiveKeys,
  work: (input: ArchiveInput, encrypted: boolean) => Promise<T>,
): Promise<T> {
  const {name, target} = archive
  if (!target.stream) return withLocalArchiveInput(archive, keys, work)
  const streamed = await target.stream(name, os.tmpdir())
  try {
    return await namingTheBackup(streamed.path, target.addressOf(name), async () => {
      if (ageFileKind(await streamed.head(HEAD_BYTES)) === undefined) return work(streamed, false)
      await streamed.whole()
      return withArchiveInput(streamed.path, keys, work)
    })
  } finally {
    await streamed.dispose()
  }
}

async function withFetched<T>(
  {name, target}: StoredArchiveRef,
  scratchDir: string,
  read: (fetchedPath: string) => Promise<T>,
): Promise<T> {
  const fetched = await target.fetch(name, scratchDir)
  try {
    return await namingTheBackup(fetched.path, target.addressOf(name), () => read(fetched.path))
  } finally {
    fetched.dispose()
  }
}
