import fs from 'node:fs'
import path from 'node:path'

import {canonicalPath, makePrivateDirectory, publishFile} from '../fs/durable-files.js'
import {ownerFor} from '../fs/ownership.js'
import {removeTemp, tempPathIn} from '../fs/temp-files.js'
import {isObjectStoreUrl} from '../storage/locations.js'

/**
 * What the shrink guard remembers in the data directory, per destination: the file count of each
 * backup this plugin made there (so an encrypted backup without its identity, or one in an
 * object store, still has a known size) and when a drop was last accepted. Names, times and
 * counts only: nothing that is not already in the library, and no keys.
 */
export const HISTORY_FILE = 'backup-history.json'

export interface RecordedBackup {
  created_at: string
  file_count: number
}

export interface DestinationHistory {
  backups: Record<string, RecordedBackup>
  /** Drops in backups made up to this time were accepted (--accept-shrink). */
  accepted_at?: string
}

interface HistoryFile {
  version: 1
  destinations: Record<string, DestinationHistory>
}

export interface LoadedHistory {
  file: string
  content: HistoryFile
  /** Why the file was set aside, when it could not be used. */
  problem?: string
}

/** How a destination is named in the record: a canonical path, or the s3:// URL as given. */
export function destinationKey(location: string): string {
  return isObjectStoreUrl(location) ? location : canonicalPath(location)
}

export function historyPath(dataDir: string): string {
  return path.join(dataDir, HISTORY_FILE)
}

/** A missing file is an empty history; a corrupted one is treated as lost, with the reason. */
export function loadHistory(dataDir: string): LoadedHistory {
  const file = historyPath(dataDir)
  const empty: HistoryFile = {version: 1, destinations: {}}
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (error) {
    const {code} = error as NodeJS.ErrnoException
    if (code === 'ENOENT' || code === 'ENOTDIR') return {file, content: empty}
    return {file, content: empty, problem: (error as Error).message}
  }

  try {
    return {file, content: validHistory(JSON.parse(text))}
  } catch (error) {
    return {file, content: empty, problem: (error as Error).message}
  }
}

function validHistory(value: unknown): HistoryFile {
  const candidate = value as Partial<HistoryFile> | null
  if (candidate?.version !== 1 || typeof candidate.destinations !== 'object' || candidate.destinations === null)
    throw new Error('it is not a backup history this version understands')
  const destinations: Record<string, DestinationHistory> = {}
  for (const [key, entry] of Object.entries(candidate.destinations)) {
    const backups: Record<string, RecordedBackup> = {}
    for (const [name, backup] of Object.entries(entry?.backups ?? {})) {
      if (Number.isSafeInteger(backup?.file_count) && backup.file_count >= 0 && typeof backup.created_at === 'string')
        backups[name] = {created_at: backup.created_at, file_count: backup.file_count}
    }

    const acceptedAt = typeof entry?.accepted_at === 'string' ? entry.accepted_at : undefined
    destinations[key] = {backups, ...(acceptedAt ? {accepted_at: acceptedAt} : {})}
  }

  return {version: 1, destinations}
}

/**
 * Replaces the record atomically (temporary file, fsync, rename): a crash leaves the old record or
 * the new one. 0600, and under sudo owned like the data directory.
 */
export function saveHistory(dataDir: string, content: HistoryFile): void {
  makePrivateDirectory(dataDir)
  const temp = tempPathIn(dataDir, 'history.json')
  try {
    const fd = fs.openSync(temp, 'wx', 0o600)
    try {
      fs.writeFileSync(fd, `${JSON.stringify(content, null, 2)}\n`)
      fs.fsyncSync(fd)
    } finally {
      fs.closeSync(fd)
    }

    publishFile(temp, historyPath(dataDir), {overwrite: true, owner: ownerFor(dataDir)})
  } finally {
    removeTemp(temp)
  }
}

export type {HistoryFile}
