import fs from 'node:fs'
import path from 'node:path'

import {LibraryBackupError} from '../errors.js'
import {makeDirectories} from './make-directories.js'
import {giveTo, type Owner, ownerFor} from './ownership.js'

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
export function publishFile(
  tempPath: string,
  finalPath: string,
  options: {overwrite: boolean; owner?: Owner},
): boolean {
  // Owned right before it appears: never a moment with the wrong owner under the final name.
  giveTo(tempPath, options.owner)
  if (options.overwrite) {
    fs.renameSync(tempPath, finalPath)
  } else {
    try {
      fs.linkSync(tempPath, finalPath)
      fs.unlinkSync(tempPath)
    } catch (error) {
      const {code} = error as NodeJS.ErrnoException
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

/**
 * Creates a private directory (0700) and its missing parents; returns the first one it created.
 * Under `sudo`, each created directory goes to the owner of the directory it was created in.
 */
export function makePrivateDirectory(dir: string): string | undefined {
  const owner = ownerFor(dir)
  let created: string | undefined
  try {
    created = makeDirectories(dir, 0o700)
  } catch (error) {
    throw directoryError(dir, error as NodeJS.ErrnoException)
  }

  if (created) {
    for (let current = path.resolve(dir); ; current = path.dirname(current)) {
      giveTo(current, owner)
      if (current === created || current === path.dirname(current)) break
    }
  }

  return created
}

function directoryError(dir: string, err: NodeJS.ErrnoException): LibraryBackupError {
  const link = fs.lstatSync(dir, {throwIfNoEntry: false})
  if (link?.isSymbolicLink() && !fs.existsSync(dir)) {
    return new LibraryBackupError(
      'IO_ERROR',
      `${dir} is a symbolic link to ${fs.readlinkSync(dir)}, which does not exist`,
      {
        hint: 'Mount the filesystem it points to (a NAS?), or fix the link.',
      },
    )
  }

  if (err.code === 'EEXIST' || err.code === 'ENOTDIR') {
    return new LibraryBackupError('NOT_A_DIRECTORY', `${dir} exists but is not a directory`, {
      hint: 'Move it aside, or choose another location.',
    })
  }

  if (err.code === 'EROFS')
    return new LibraryBackupError('IO_ERROR', `Cannot create the directory ${dir}: the filesystem is read-only`, {
      hint: 'Choose another location.',
    })
  // The parent exists (only missing levels are made) yet refuses a new directory: /proc, /sys.
  if (err.code === 'ENOENT' && err.path)
    return new LibraryBackupError(
      'IO_ERROR',
      `Cannot create the directory ${dir}: ${path.dirname(err.path)} does not take new directories`,
      {hint: 'Choose a directory on an ordinary filesystem.'},
    )
  if ((err.code === 'EACCES' || err.code === 'EPERM') && err.path)
    return new LibraryBackupError(
      'IO_ERROR',
      `Cannot create the directory ${dir}: permission denied in ${path.dirname(err.path)}`,
      {hint: 'Fix its permissions, or choose another location.'},
    )
  return new LibraryBackupError('IO_ERROR', `Cannot create the directory ${dir} (${err.message})`, {
    hint: 'Check its permissions, or choose another location.',
  })
}

/** A directory new files will be written into: say so now, not after minutes of work. */
export function assertWritableDirectory(dir: string): void {
  try {
    fs.accessSync(dir, fs.constants.W_OK)
  } catch (error) {
    const {code} = error as NodeJS.ErrnoException
    throw new LibraryBackupError(
      'IO_ERROR',
      code === 'EROFS' ? `${dir} is on a read-only filesystem` : `${dir} is not writable by this user`,
      {
        hint:
          code === 'EROFS'
            ? 'Choose another location (--output).'
            : 'Fix its permissions, or choose another location (--output).',
      },
    )
  }
}

/** Removes `deepest` and its parents up to `topCreated` while they are empty: undoes makePrivateDirectory. */
export function removeEmptyDirectories(topCreated: string, deepest: string): void {
  let dir = path.resolve(deepest)
  for (;;) {
    try {
      fs.rmdirSync(dir)
    } catch {
      return
    }

    if (dir === path.resolve(topCreated)) return
    dir = path.dirname(dir)
  }
}

/** The path with its directory's symlinks resolved (the file itself may not exist yet). */
export function canonicalPath(file: string): string {
  const resolved = path.resolve(file)
  try {
    return fs.realpathSync(resolved)
  } catch {
    try {
      return path.join(fs.realpathSync(path.dirname(resolved)), path.basename(resolved))
    } catch {
      return resolved
    }
  }
}
