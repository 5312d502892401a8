/**
 * What a command may leave on disk, named as the product names it: its temporary files
 * (TEMP_PREFIX), its archives and the library lock (lockDirectory), never re-declared here.
 */
import fs from 'node:fs'
import path from 'node:path'

import {TEMP_PREFIX} from '../../src/lib/fs/temp-files.js'
import {lockDirectory} from '../../src/lib/library/library-lock.js'

export {TEMP_PREFIX} from '../../src/lib/fs/temp-files.js'
export {lockDirectory} from '../../src/lib/library/library-lock.js'

/** Temporary files the plugin leaves (with any SQLite sidecars) anywhere under `dir`. */
export function leftoverTempFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return []
  return (fs.readdirSync(dir, {recursive: true}) as string[]).filter((rel) =>
    path.basename(rel).startsWith(TEMP_PREFIX),
  )
}

/** The plugin's temporary files (`<TEMP_PREFIX><pid>-<hex>.<label>`) directly in `dir`. */
export function listTemps(dir: string): string[] {
  try {
    return fs.readdirSync(dir).filter((name) => name.startsWith(TEMP_PREFIX))
  } catch {
    return []
  }
}

/** Final-named archives (`vpo-library-*.tar.gz`) directly in `dir`. */
export function listArchives(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir)
      .filter((name) => name.startsWith('vpo-library-') && name.endsWith('.tar.gz'))
      .sort()
  } catch {
    return []
  }
}

/** Makes a lock left by a dead process look `seconds` old: what staleness means to proper-lockfile. */
export function ageLock(databasePath: string, seconds = 20): boolean {
  const lock = lockDirectory(databasePath)
  if (!fs.existsSync(lock)) return false
  const when = new Date(Date.now() - seconds * 1000)
  fs.utimesSync(lock, when, when)
  return true
}
