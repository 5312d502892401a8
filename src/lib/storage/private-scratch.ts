import fsp from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

/**
 * One staging directory per user in the temporary directory, reused by every run so that none
 * piles up; anything staged there is a temporary file that its run (or the next) removes. A
 * directory of that name that is not ours alone is not trusted: a fresh private one is used.
 */
export async function privateTempDir(): Promise<string> {
  const uid = process.getuid?.()
  const dir = path.join(os.tmpdir(), `vpo-backup-staging-${uid ?? 'user'}`)
  await fsp.mkdir(dir, {mode: 0o700}).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error
  })
  const stat = await fsp.lstat(dir)
  // eslint-disable-next-line no-bitwise -- permission bits: no access for group or others
  const privateMode = (stat.mode & 0o077) === 0
  if (stat.isDirectory() && (uid === undefined || stat.uid === uid) && privateMode) return dir
  return fsp.mkdtemp(path.join(os.tmpdir(), 'vpo-backup-staging-'))
}
