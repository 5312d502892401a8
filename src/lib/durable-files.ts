import fs from 'node:fs'
import path from 'node:path'

import {LibraryBackupError} from './errors.js'

/** Makes a rename or unlink in `dir` survive a power cut. Some filesystems refuse: that is fine. */
export function fsyncDirectory(dir: string): void {
  let fd: number | undefined
  try {
    fd = fs.openSync(dir, 'r')
    fs.fsyncSync(fd)
  } catch {
    // EISDIR/EINVAL/EPERM on filesystems (some NAS mounts) that cannot sync a directory.
  } finally {
    if (fd !== undefined) fs.closeSync(fd)
  }
}

/**
 * Moves a finished temporary file to its final name, atomically. Without `overwrite` it never
 * replaces an existing file: link(2) fails if the name is taken, where rename(2) would clobber it.
 * Returns false when the name is taken.
 */
export function publishFile(tempPath: string, finalPath: string, options: {overwrite: boolean}): boolean {
  if (options.overwrite) {
    fs.renameSync(tempPath, finalPath)
  } else {
    try {
      fs.linkSync(tempPath, finalPath)
      fs.unlinkSync(tempPath)
    } catch (error) {
      const {code} = (error as NodeJS.ErrnoException)
      if (code === 'EEXIST') return false
      // Filesystems without hard links (FAT, some NAS shares): check, then rename.
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EMLINK') throw error
      if (fs.existsSync(finalPath)) return false
      fs.renameSync(tempPath, finalPath)
    }
  }

  fsyncDirectory(path.dirname(finalPath))
  return true
}

/** Creates a private directory (0700) and its missing parents; returns the first one it created. */
export function makePrivateDirectory(dir: string): string | undefined {
  try {
    return fs.mkdirSync(dir, {recursive: true, mode: 0o700})
  } catch (error) {
    const err = error as NodeJS.ErrnoException
    if (err.code === 'EEXIST' || err.code === 'ENOTDIR') {
      throw new LibraryBackupError('NOT_A_DIRECTORY', `${dir} exists but is not a directory`, {hint: 'Move it aside, or choose another location.'})
    }

    throw new LibraryBackupError('IO_ERROR', `Cannot create the directory ${dir} (${err.message})`, {hint: 'Check its permissions, or choose another location.'})
  }
}
