/** Archives as a user sees them with GNU tar. */
import {spawnSync} from 'node:child_process'

import {makeTempDir} from './temp-dirs.js'

/** Lists the members of an archive with GNU tar: name, mode, size. */
export function gnuTarList(archive: string): Array<{mode: string; name: string; size: number}> {
  const out = spawnSync('tar', ['-tvzf', archive], {encoding: 'utf8'})
  if (out.status !== 0) throw new Error(`tar -tvzf failed: ${out.stderr}`)
  return out.stdout
    .trim()
    .split('\n')
    .map((line) => {
      const parts = line.split(/\s+/)
      return {mode: parts[0], size: Number(parts[2]), name: parts.slice(5).join(' ')}
    })
}

/** Extracts an archive with GNU tar into a fresh directory and returns that directory. */
export function extractWithGnuTar(archive: string): string {
  const dir = makeTempDir('vpo-extract')
  const out = spawnSync('tar', ['-xzf', archive, '-C', dir], {encoding: 'utf8'})
  if (out.status !== 0) throw new Error(`tar -xzf failed: ${out.stderr}`)
  return dir
}

/** `backup_metadata.json` of an archive, read with GNU tar (`tar -xzOf`). */
export function gnuTarMetadata(archive: string): Record<string, unknown> {
  const out = spawnSync('tar', ['-xzOf', archive, 'backup_metadata.json'], {encoding: 'utf8'})
  if (out.status !== 0) throw new Error(`tar -xzOf failed: ${out.stderr}`)
  return JSON.parse(out.stdout) as Record<string, unknown>
}
