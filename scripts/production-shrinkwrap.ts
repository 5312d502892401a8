/**
 * Writes npm-shrinkwrap.json for the published package (`prepack`; `postpack` removes it): the
 * run-time part of package-lock.json, the exact tree the tests ran on. npm ignores a dependency's
 * package-lock.json but installs what its npm-shrinkwrap.json pins, and it installs EVERY entry of
 * that file, dev ones included, so the development tree (TypeScript, ESLint, oclif's own AWS SDK…)
 * must not be in it. The repository keeps package-lock.json for developers.
 *
 * The shrinkwrap is not enough on its own: npm 7 to 11 follow it only when the registry's metadata
 * says the version has one (registry.npmjs.org does, verdaccio, Artifactory and most mirrors do
 * not), and npm 12 never does. So package.json's `bundleDependencies` ship every run-time
 * dependency but better-sqlite3 (native: the user's npm compiles it for their Node) inside the
 * tarball, and npm installs a bundle as it is. npm packs a bundle from node_modules as it is on
 * disk, not from the lock, so this script also refuses to let a node_modules that drifted from
 * package-lock.json (an `npm install x` since the last `npm ci`) be packed.
 *
 *   tsx scripts/production-shrinkwrap.ts [ROOT]
 */
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

interface LockedPackage {
  version?: string
  dev?: boolean
  inBundle?: boolean
  bundleDependencies?: string[]
  devDependencies?: Record<string, string>
  [field: string]: unknown
}

export interface Lockfile {
  lockfileVersion: number
  packages: Record<string, LockedPackage>
  [field: string]: unknown
}

/** The lockfile without dev-only packages and without the root's devDependencies. */
export function productionShrinkwrap(lock: Lockfile): Lockfile {
  if (lock.lockfileVersion < 2) throw new Error('package-lock.json must be lockfileVersion 2 or 3 (npm 7 or later)')
  const packages: Record<string, LockedPackage> = {}
  for (const [location, entry] of Object.entries(lock.packages)) {
    if (location === '') {
      const root = {...entry}
      delete root.devDependencies
      packages[location] = root
    } else if (!entry.dev) packages[location] = entry
  }

  return {...lock, packages}
}

/**
 * Why node_modules under `root` cannot be packed as the bundle package-lock.json describes (empty
 * when it can): package.json and the lock must name the same bundleDependencies, no bundled
 * package may be a development one, and every package the lock marks `inBundle` must be on disk
 * at its location, at its locked version.
 */
export function bundleDrift(root: string, lock: Lockfile): string[] {
  const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
    bundleDependencies?: string[]
  }
  const declared = manifest.bundleDependencies ?? []
  const problems: string[] = []
  if (JSON.stringify(declared) !== JSON.stringify(lock.packages['']?.bundleDependencies ?? []))
    problems.push('package.json and package-lock.json name different bundleDependencies: run npm install')
  const bundled = Object.entries(lock.packages).filter(([location, entry]) => location && entry.inBundle)
  for (const name of declared)
    if (!lock.packages[`node_modules/${name}`]?.inBundle) problems.push(`${name} is not in the lock's bundle`)
  for (const [location, entry] of bundled) {
    if (entry.dev) problems.push(`${location} is a development package`)
    const file = path.join(root, location, 'package.json')
    const onDisk = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as {version: string}).version : null
    if (onDisk !== entry.version)
      problems.push(`${location}: ${onDisk ?? 'missing'} on disk, ${entry.version} in package-lock.json`)
  }

  return problems
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = path.resolve(process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..'))
  const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as Lockfile
  const drift = bundleDrift(root, lock)
  if (drift.length > 0) {
    console.error(
      `node_modules is not the tree package-lock.json locks, and npm would bundle it as it is; run npm ci first.\n  ${drift.join('\n  ')}`,
    )
    process.exit(1)
  }

  fs.writeFileSync(path.join(root, 'npm-shrinkwrap.json'), JSON.stringify(productionShrinkwrap(lock), null, 2) + '\n')
}
