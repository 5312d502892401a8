import fs from 'node:fs'
import path from 'node:path'

import type {BackupTarget, FetchedArchive, StoredArchive} from './target.js'

import {LibraryBackupError} from '../errors.js'
import {
  assertWritableDirectory,
  makePrivateDirectory,
  publishFile,
  removeEmptyDirectories,
} from '../fs/durable-files.js'
import {ownerFor} from '../fs/ownership.js'
import {TEMP_PREFIX} from '../fs/temp-files.js'

/** Backups as files in one directory on a mounted filesystem (the default: <data dir>/backups). */
export class LocalDirectory implements BackupTarget {
  readonly location: string

  constructor(directory: string) {
    this.location = path.resolve(directory)
  }

  addressOf(name: string): string {
    return path.join(this.location, name)
  }

  localPath(name: string): string {
    return this.addressOf(name)
  }

  async list(isCandidate: (name: string) => boolean): Promise<StoredArchive[]> {
    let names: string[]
    try {
      names = await fs.promises.readdir(this.location)
    } catch (error) {
      const {code} = error as NodeJS.ErrnoException
      if (code === 'ENOENT') return []
      if (code === 'ENOTDIR') {
        throw new LibraryBackupError('NOT_A_DIRECTORY', `${this.location} is not a directory`, {
          hint: 'Pass --path with the directory that holds your backups.',
        })
      }

      throw new LibraryBackupError('IO_ERROR', `Cannot read ${this.location} (${(error as Error).message})`, {
        hint: 'Check its permissions.',
      })
    }

    const found = await Promise.all(
      names
        // A file being staged here is not an archive yet, whatever the caller would accept.
        .filter((name) => !name.startsWith(TEMP_PREFIX) && isCandidate(name))
        .map(async (name) => this.stat(name)),
    )
    return found.filter((entry): entry is StoredArchive => entry !== undefined)
  }

  async stat(name: string): Promise<StoredArchive | undefined> {
    // Followed like list() follows it: a backup kept behind a symlink is one; a dangling link is not.
    const stats = await fs.promises.stat(this.addressOf(name)).catch(() => {})
    return stats?.isFile() ? {name, sizeBytes: stats.size, modifiedAt: stats.mtime} : undefined
  }

  async readHead(name: string, bytes: number): Promise<Buffer> {
    return this.readRange(name, 0, bytes)
  }

  async readRange(name: string, start: number, bytes: number): Promise<Buffer> {
    const handle = await fs.promises.open(this.addressOf(name), 'r')
    try {
      const data = Buffer.alloc(bytes)
      const {bytesRead} = await handle.read(data, 0, bytes, start)
      return data.subarray(0, bytesRead)
    } finally {
      await handle.close()
    }
  }

  async fetch(name: string): Promise<FetchedArchive> {
    const file = this.addressOf(name)
    // Anything else there (a directory, a FIFO) is for the archive reader to name.
    if (!fs.lstatSync(file, {throwIfNoEntry: false})) {
      throw new LibraryBackupError('BACKUP_NOT_FOUND', `Backup file ${file} does not exist`, {
        hint: 'Check the path (vpo library:backups lists your backups).',
      })
    }

    return {path: file, dispose() {}}
  }

  private created: string | undefined

  async prepareStaging(): Promise<string> {
    this.created ??= makePrivateDirectory(this.location)
    assertWritableDirectory(this.location)
    return this.location
  }

  async abandonStaging(): Promise<void> {
    if (!this.created) return
    removeEmptyDirectories(this.created, this.location)
    this.created = undefined
  }

  async commit(stagedFile: string, name: string, options: {overwrite: boolean}): Promise<boolean> {
    return publishFile(stagedFile, this.addressOf(name), {...options, owner: ownerFor(this.location)})
  }

  async remove(name: string): Promise<void> {
    const target = this.addressOf(name)
    // A directory named like a backup is not ours to delete, and rm would need recursive for it.
    const stats = fs.lstatSync(target, {throwIfNoEntry: false})
    if (stats && !stats.isFile() && !stats.isSymbolicLink()) {
      throw new LibraryBackupError('IO_ERROR', `${target} is not a regular file, so it was not removed`)
    }

    await fs.promises.rm(target, {force: true})
  }
}
