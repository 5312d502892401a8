/**
 * Writes npm-shrinkwrap.json for the published package (`prepack`; `postpack` removes it): the
 * run-time part of package-lock.json, the exact tree the tests ran on. npm ignores a dependency's
 * package-lock.json but installs what its npm-shrinkwrap.json pins, and it installs EVERY entry of
 * that file, dev ones included, so the development tree (TypeScript, ESLint, oclif's own AWS SDK…)
 * must not be in it. The repository keeps package-lock.json for developers.
 *
 *   tsx scripts/production-shrinkwrap.ts [ROOT]
 */
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

interface LockedPackage {
  dev?: boolean
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

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = path.resolve(process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..'))
  const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as Lockfile
  fs.writeFileSync(path.join(root, 'npm-shrinkwrap.json'), JSON.stringify(productionShrinkwrap(lock), null, 2) + '\n')
}
