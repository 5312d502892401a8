import fs from 'node:fs'
import path from 'node:path'

/**
 * `mkdir -p`, one level at a time, in at most as many steps as the path has levels. Node's own
 * recursive mkdir retries forever, inside one C++ call where no signal handler can run, when a
 * parent exists but refuses the child with ENOENT (/proc, /sys, some FUSE mounts):
 * `library:backup --output /proc/foo/` spun at 100% CPU holding the library lock and ignoring
 * Ctrl-C. Here the level that cannot be made throws its error at once.
 *
 * Returns the first directory it created, as `fs.mkdirSync(dir, {recursive: true})` does.
 */
export function makeDirectories(dir: string, mode: number): string | undefined {
  const missing: string[] = []
  for (let current = path.resolve(dir); !fs.existsSync(current); current = path.dirname(current)) {
    missing.unshift(current)
    if (path.dirname(current) === current) break
  }

  let first: string | undefined
  for (const level of missing) {
    try {
      fs.mkdirSync(level, {mode})
      first ??= level
    } catch (error) {
      // Made meanwhile by someone else (another backup run): fine when it is a directory.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || !fs.statSync(level).isDirectory()) throw error
    }
  }

  return first
}
