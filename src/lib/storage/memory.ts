import fs from 'node:fs'
import fsp from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import type {BackupTarget, FetchedArchive, StoredArchive} from './target.js'

import {LibraryBackupError} from '../errors.js'
import {removeTemp, tempPathIn} from '../fs/temp-files.js'

interface Entry {
  bytes: Buffer
  modifiedAt: Date
}

/**
 * Backups held in this process's memory, as a flat key space like an object store's: a key with
 * a `/` in it is a "folder" entry that is never listed as an archive. Nothing reaches it from the
 * CLI; it runs the storage contract and the use cases in tests without a disk or a server.
 * Staged files and fetched copies are still real local files, as the contract hands them out.
 */
export class MemoryTarget implements BackupTarget {
  readonly location: string
  private readonly entries = new Map<string, Entry>()
  private scratch: string | undefined

  constructor(location = 'memory://backups/') {
    this.location = location.endsWith('/') ? location : `${location}/`
  }

  addressOf(name: string): string {
    return this.location + name
  }

  localPath(): undefined {
    return undefined
  }

  /** Stores bytes under any key, `/` included: how tests lay out what another tool left there. */
  put(key: string, bytes: Buffer, modifiedAt = new Date()): void {
    this.entries.set(key, {bytes: Buffer.from(bytes), modifiedAt})
  }

  async list(isCandidate: (name: string) => boolean): Promise<StoredArchive[]> {
    const found: StoredArchive[] = []
    for (const [name, entry] of this.entries) {
      if (!name.includes('/') && isCandidate(name)) found.push(describeEntry(name, entry))
    }

    return found
  }

  async stat(name: string): Promise<StoredArchive | undefined> {
    const entry = name.includes('/') ? undefined : this.entries.get(name)
    return entry && describeEntry(name, entry)
  }

  async readHead(name: string, bytes: number): Promise<Buffer> {
    return this.readRange(name, 0, bytes)
  }

  async readRange(name: string, start: number, bytes: number): Promise<Buffer> {
    const {bytes: all} = this.existing(name)
    return Buffer.from(all.subarray(Math.min(start, all.length), Math.min(start + Math.max(bytes, 0), all.length)))
  }

  async fetch(name: string, scratchDir?: string): Promise<FetchedArchive> {
    const {bytes} = this.existing(name)
    const file = tempPathIn(scratchDir ?? (await this.ownScratch()), 'download')
    await fsp.writeFile(file, bytes, {flag: 'wx', mode: 0o600})
    return {path: file, dispose: () => removeTemp(file)}
  }

  async prepareStaging(): Promise<string> {
    return this.ownScratch()
  }

  /** The private directory goes once nothing is left in it. */
  async abandonStaging(): Promise<void> {
    if (!this.scratch) return
    await fsp.rmdir(this.scratch).catch(() => {})
    if (!fs.existsSync(this.scratch)) this.scratch = undefined
  }

  async commit(stagedFile: string, name: string, options: {overwrite: boolean}): Promise<boolean> {
    if (!options.overwrite && this.entries.has(name)) return false
    // Read whole before the name appears: the name is never seen holding part of the archive.
    this.put(name, await fsp.readFile(stagedFile))
    await fsp.rm(stagedFile, {force: true})
    return true
  }

  async remove(name: string): Promise<void> {
    this.entries.delete(name)
  }

  private existing(name: string): Entry {
    const entry = this.entries.get(name)
    if (entry) return entry
    throw new LibraryBackupError('BACKUP_NOT_FOUND', `There is no backup at ${this.addressOf(name)}`, {
      hint: 'Check the name (vpo library:backups lists your backups).',
    })
  }

  private async ownScratch(): Promise<string> {
    if (this.scratch === undefined || !fs.existsSync(this.scratch))
      this.scratch = await fsp.mkdtemp(path.join(os.tmpdir(), 'vpo-memory-target-'))
    return this.scratch
  }
}

function describeEntry(name: string, entry: Entry): StoredArchive {
  return {name, sizeBytes: entry.bytes.length, modifiedAt: entry.modifiedAt}
}
