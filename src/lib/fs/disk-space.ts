import fs from 'node:fs'
import path from 'node:path'

import {LibraryBackupError} from '../errors.js'
import {formatBytes} from '../format.js'

export interface SpaceNeed {
  /** A directory the bytes will be written into; it may not exist yet. */
  directory: string
  bytes: number
  /** What the bytes are for, in the user's words: "the restored database". */
  purpose: string
}

/**
 * Checks that every filesystem touched has room for what will be written to it. Needs on the
 * same filesystem add up: a restore's extracted copy and its safety backup often share a disk.
 * Uses fs.statfs (no `df` child process), on the nearest directory that exists.
 */
export async function assertSpaceFor(
  needs: SpaceNeed[],
  options: {
    /** Bytes that will be freed first (a killed run's leftovers a dry run may not remove), counted as free. */
    reclaimable?: Array<{directory: string; bytes: number}>
  } = {},
): Promise<void> {
  const byDevice = new Map<number, {bytes: number; directory: string; purposes: string[]}>()
  for (const need of needs) {
    const existing = nearestExistingDirectory(need.directory)
    const {dev} = await fs.promises.stat(existing)
    const entry = byDevice.get(dev) ?? {bytes: 0, directory: existing, purposes: []}
    entry.bytes += need.bytes
    entry.purposes.push(need.purpose)
    byDevice.set(dev, entry)
  }

  const reclaimed = new Map<number, number>()
  for (const {directory, bytes} of options.reclaimable ?? []) {
    const {dev} = await fs.promises.stat(nearestExistingDirectory(directory))
    reclaimed.set(dev, (reclaimed.get(dev) ?? 0) + bytes)
  }

  for (const [dev, {bytes, directory, purposes}] of byDevice) {
    const free = (await freeBytes(directory)) + (reclaimed.get(dev) ?? 0)
    if (free < bytes) {
      throw new LibraryBackupError(
        'INSUFFICIENT_SPACE',
        `Not enough free space in ${directory}: ${purposes.join(' and ')} ${purposes.length > 1 ? 'need' : 'needs'} about ${formatBytes(bytes)} but only ${formatBytes(free)} is free`,
        {hint: 'Free some space, or choose another location.'},
      )
    }
  }
}

export async function freeBytes(directory: string): Promise<number> {
  const stats = await fs.promises.statfs(nearestExistingDirectory(directory))
  return stats.bavail * stats.bsize
}

function nearestExistingDirectory(directory: string): string {
  let current = path.resolve(directory)
  for (;;) {
    try {
      if (fs.statSync(current).isDirectory()) return current
    } catch {
      // Not there yet: its parent is where the space will come from.
    }

    const parent = path.dirname(current)
    if (parent === current) return current
    current = parent
  }
}
