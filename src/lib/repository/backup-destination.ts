import fs from 'node:fs'
import path from 'node:path'

import type {BackupTarget} from '../storage/target.js'

import {LibraryBackupError} from '../errors.js'
import {canonicalPath} from '../fs/durable-files.js'
import {lockDirectory} from '../library/library-lock.js'
import {locateObjectStoreOutput, openTarget} from '../storage/locations.js'

/** Where a new backup goes: a target, and the exact name `--output` asked for, if it named a file. */
export interface Destination {
  target: BackupTarget
  /** Undefined: the next free timestamped name. */
  name?: string
}

/**
 * Turns `--output` into a destination, refusing every spelling of the library itself: the archive
 * must never land on library.db, its -wal/-shm/-journal or its lock, whatever path leads there.
 */
export async function resolveDestination(options: {
  backupDir: string
  databasePath: string
  force?: boolean
  output?: string
}): Promise<Destination> {
  const {output} = options
  if (output === undefined) return {target: await openTarget(options.backupDir)}
  if (output === '-') {
    throw new LibraryBackupError(
      'USAGE_ERROR',
      'The archive cannot be written to standard output (-): it is written with a seek, then published whole',
      {
        hint: 'Pass --output with a file or directory.',
      },
    )
  }

  const inObjectStore = await locateObjectStoreOutput(output)
  if (inObjectStore) return inObjectStore

  const resolved = path.resolve(output)
  const protectedFiles = libraryFiles(options.databasePath)
  // A trailing slash means a directory, existing or not: never a file named after it.
  if (/[/\\]$/.test(output) || statIfAny(resolved)?.isDirectory()) {
    assertNotLibrary(resolved, protectedFiles, output)
    assertAncestorIsDirectory(resolved)
    return {target: await openTarget(resolved)}
  }

  const directory = path.dirname(resolved)
  const parent = statIfAny(directory)
  if (!parent) {
    throw new LibraryBackupError('IO_ERROR', `The directory ${directory} does not exist`, {
      hint: 'Create it first, or choose another --output.',
    })
  }

  if (!parent.isDirectory()) {
    throw new LibraryBackupError(
      'NOT_A_DIRECTORY',
      `${directory} is not a directory, so ${resolved} cannot be created`,
      {
        hint: 'Choose another --output.',
      },
    )
  }

  assertNotLibrary(resolved, protectedFiles, output)
  const existing = statIfAny(resolved)
  if (existing && !existing.isFile()) {
    throw new LibraryBackupError('OUTPUT_EXISTS', `${resolved} exists and is not a regular file`, {
      hint: 'Choose another --output.',
    })
  }

  if (existing && !options.force) throw outputExists(resolved)
  return {target: await openTarget(directory), name: path.basename(resolved)}
}

export function outputExists(output: string): LibraryBackupError {
  return new LibraryBackupError('OUTPUT_EXISTS', `${output} already exists`, {
    hint: 'Choose another --output, or pass --force to replace it.',
  })
}

interface ProtectedFile {
  /** The canonical path: real parent directory plus the name. */
  canonical: string
  /** Device and inode when the file exists, so hard links and symlinks are caught too. */
  identity?: string
}

/** library.db, its sidecars (which may appear at any moment) and its lock directory. */
function libraryFiles(databasePath: string): ProtectedFile[] {
  const real = canonicalPath(databasePath)
  return [real, `${real}-wal`, `${real}-shm`, `${real}-journal`, lockDirectory(databasePath)].map((file) => ({
    canonical: file,
    identity: identityOf(file),
  }))
}

function assertNotLibrary(candidate: string, protectedFiles: ProtectedFile[], asGiven: string): void {
  const canonical = canonicalPath(candidate)
  const identity = identityOf(candidate)
  const hit = protectedFiles.find(
    (file) => file.canonical === canonical || (identity !== undefined && file.identity === identity),
  )
  if (hit) {
    throw new LibraryBackupError(
      'OUTPUT_IS_LIBRARY',
      `--output ${asGiven} is the library's own file ${hit.canonical}, which a backup must never replace`,
      {
        hint: 'Choose an --output outside the library files, such as the backups directory.',
      },
    )
  }
}

/** A directory to create under a file cannot be: name that file now, not mkdir's ENOTDIR later. */
function assertAncestorIsDirectory(directory: string): void {
  let ancestor = path.dirname(directory)
  while (statIfAny(ancestor) === undefined && ancestor !== path.dirname(ancestor)) ancestor = path.dirname(ancestor)
  if (!statIfAny(ancestor)?.isDirectory()) {
    throw new LibraryBackupError(
      'NOT_A_DIRECTORY',
      `${ancestor} is not a directory, so ${directory} cannot be created`,
      {
        hint: 'Choose another --output.',
      },
    )
  }
}

/** Stats of `file`, or undefined when there is none, also when a parent is a file (ENOTDIR). */
function statIfAny(file: string): fs.Stats | undefined {
  try {
    return fs.statSync(file)
  } catch (error) {
    if (['ENOENT', 'ENOTDIR'].includes((error as NodeJS.ErrnoException).code ?? '')) return undefined
    throw error
  }
}

function identityOf(file: string): string | undefined {
  let stats: fs.BigIntStats
  try {
    stats = fs.statSync(file, {bigint: true})
  } catch {
    return undefined
  }

  return `${stats.dev}:${stats.ino}`
}
