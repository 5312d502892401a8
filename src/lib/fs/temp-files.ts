import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

/**
 * Temporary files this process owns. They are removed on success, on failure, on Ctrl-C and on
 * SIGTERM; a run killed with -9 leaves them behind, so their names carry the owner's pid and the
 * next run removes those whose owner is gone. The commands call removeOwnedTemps() as the
 * process exits (an interrupted run exits without unwinding).
 */
export const TEMP_PREFIX = '.vpo-backup-tmp-'
const owned = new Set<string>()

/** A fresh temporary path in `dir`, so a final rename stays on one filesystem. */
export function tempPathIn(dir: string, label: string): string {
  const name = `${TEMP_PREFIX}${process.pid}-${crypto.randomBytes(4).toString('hex')}.${label}`
  const tempPath = path.join(dir, name)
  owned.add(tempPath)
  return tempPath
}

/** The file is now somewhere permanent (renamed into place): stop treating it as scratch. */
export function release(tempPath: string): void {
  owned.delete(tempPath)
}

/** Removes a temporary file and the SQLite sidecars that opening it may have created. */
export function removeTemp(tempPath: string): void {
  for (const candidate of [tempPath, `${tempPath}-wal`, `${tempPath}-shm`, `${tempPath}-journal`]) {
    try {
      fs.rmSync(candidate, {force: true})
    } catch {
      // Best effort: a file we cannot remove must not hide the error that brought us here.
    }
  }

  owned.delete(tempPath)
}

/**
 * removeTemp on the threadpool: unlinking a 100 MB file takes a tenth of a second, which can pass
 * while the main thread does other work. Never rejects; the file stays ours until it is gone.
 */
export async function removeTempInBackground(tempPath: string): Promise<void> {
  await Promise.allSettled(
    [tempPath, `${tempPath}-wal`, `${tempPath}-shm`, `${tempPath}-journal`].map((candidate) =>
      fs.promises.rm(candidate, {force: true}),
    ),
  )
  if (!fs.existsSync(tempPath)) owned.delete(tempPath)
}

/** Removes every temporary file this process still owns: for the way out of an interrupted run. */
export function removeOwnedTemps(): void {
  for (const tempPath of owned) removeTemp(tempPath)
}

/** Removes temporary files in `dir` left by runs that were killed (their pid no longer exists). */
export function removeAbandonedTemps(dir: string): string[] {
  const removed: string[] = []
  for (const fullPath of abandonedTemps(dir)) {
    try {
      fs.rmSync(fullPath, {force: true})
      removed.push(fullPath)
    } catch {
      // Someone else's file we may not touch: leave it.
    }
  }

  return removed
}

/**
 * The bytes removeAbandonedTemps would free in `dir`: what a dry run, which may not remove them,
 * counts as free, as the real run will find it.
 */
export function abandonedTempBytes(dir: string): number {
  let bytes = 0
  for (const file of abandonedTemps(dir)) bytes += fs.statSync(file, {throwIfNoEntry: false})?.size ?? 0
  return bytes
}

/** Temporary files in `dir` whose owner is gone (killed with -9). */
function abandonedTemps(dir: string): string[] {
  let names: string[]
  try {
    names = fs.readdirSync(dir)
  } catch {
    return []
  }

  return names
    .filter((name) => {
      if (!name.startsWith(TEMP_PREFIX)) return false
      const pid = Number.parseInt(name.slice(TEMP_PREFIX.length), 10)
      return Number.isInteger(pid) && pid !== process.pid && !isAlive(pid)
    })
    .map((name) => path.join(dir, name))
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
