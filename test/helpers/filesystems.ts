/* eslint-disable mocha/no-exports, mocha/no-top-level-hooks -- useMounts' hook runs inside the calling describe() */
/** Filesystems a fault test needs: small tmpfs mounts (as root) and fault hooks preloaded into the CLI. */
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import {makeTempDir} from './temp-dirs.js'

/** True when this process may mount filesystems (tmpfs tests need root). */
export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0
}

/** Mounts a tmpfs of `size` (e.g. '3m', '2600k') at `dir`; false when that is not possible here. */
export function mountTmpfs(dir: string, size: string): boolean {
  if (!isRoot()) return false
  fs.mkdirSync(dir, {recursive: true})
  const out = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir], {encoding: 'utf8'})
  return out.status === 0
}

export function unmount(dir: string): void {
  spawnSync('umount', [dir], {encoding: 'utf8'})
  if (isMountPoint(dir)) spawnSync('umount', ['-l', dir], {encoding: 'utf8'})
}

export function isMountPoint(dir: string): boolean {
  try {
    return fs.statSync(dir).dev !== fs.statSync(path.dirname(dir)).dev
  } catch {
    return false
  }
}

/**
 * Writes an ES module to preload into the CLI (`NODE_OPTIONS=--import FILE`) to inject a fault
 * the real world produces but a test cannot time, e.g. a filesystem that reports more free space
 * than it has. Returns the env to pass to runCli/startCli.
 */
export function preloadHook(source: string): NodeJS.ProcessEnv {
  const dir = makeTempDir('vpo-hook')
  const file = path.join(dir, 'hook.mjs')
  fs.writeFileSync(file, source)
  return {NODE_OPTIONS: `--import ${JSON.stringify(file).slice(1, -1)}`}
}

/**
 * Where the enclosing describe mounts filesystems: push each mount point; after the describe they
 * are unmounted, the last one first (a mount inside another must go before it). Call it before
 * the describe's own `after(cleanupTempDirs)`, which must not meet a mounted directory.
 */
export function useMounts(): string[] {
  const mounts: string[] = []
  after(() => {
    for (const dir of [...mounts].reverse()) unmount(dir)
  })
  return mounts
}

/**
 * The env for a CLI whose statfs reports a terabyte free (a network share, another writer), so
 * only the write itself can find the disk full.
 */
export function statfsReportingATerabyte(): NodeJS.ProcessEnv {
  return preloadHook(`
import fs from 'node:fs'
const lie = (stats) => ({...stats, bavail: Math.floor(1e12 / Number(stats.bsize)), bfree: Math.floor(1e12 / Number(stats.bsize))})
const statfs = fs.promises.statfs
fs.promises.statfs = async function (...args) { return lie(await statfs.apply(this, args)) }
const statfsSync = fs.statfsSync
fs.statfsSync = function (...args) { return lie(statfsSync.apply(this, args)) }
`)
}
