import fs from 'node:fs'
import path from 'node:path'

/**
 * A `sudo vpo library:…` run over a data directory that belongs to someone else must not leave
 * root-owned files there: the daemon's user could no longer open its library or add a backup.
 * Everything the plugin creates under a directory takes that directory's owner and group.
 */
export interface Owner {
  uid: number
  gid: number
}

/** The owner new files under `dir` should get: set only when running as root and `dir` is not root's. */
export function ownerFor(dir: string): Owner | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined
  const stats = fs.statSync(nearestExisting(dir), {throwIfNoEntry: false})
  if (!stats || (stats.uid === 0 && stats.gid === 0)) return undefined
  return {uid: stats.uid, gid: stats.gid}
}

export function giveTo(file: string, owner: Owner | undefined): void {
  if (owner) fs.chownSync(file, owner.uid, owner.gid)
}

/** Gives `file` the owner, group and permission bits of `model` (the library it replaces). */
export function copyOwnership(model: fs.Stats, file: string): void {
  if (typeof process.getuid === 'function' && process.getuid() === 0) fs.chownSync(file, model.uid, model.gid)
  else if (model.gid !== fs.statSync(file).gid) {
    try {
      fs.chownSync(file, -1, model.gid) // a member of the group may hand a file to it
    } catch {
      // Not a member: the file keeps the caller's group.
    }
  }

  fs.chmodSync(file, model.mode % 0o1_0000) // the permission bits, without the file type
}

function nearestExisting(dir: string): string {
  let current = path.resolve(dir)
  while (!fs.existsSync(current)) {
    const parent = path.dirname(current)
    if (parent === current) break
    current = parent
  }

  return current
}
