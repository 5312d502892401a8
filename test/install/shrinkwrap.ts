/**
 * What the shipped npm-shrinkwrap.json promises a user, and what an install really put on disk:
 * the name@version of every package the plugin reaches through dependencies and
 * optionalDependencies, resolved as Node resolves them (nested node_modules first, then upwards).
 * Both sides are walked the same way, so a package npm picked from a `^` range instead of the
 * shrinkwrap, an extra one or a missing one shows up as a difference.
 */
import fs from 'node:fs'
import path from 'node:path'

import {dependencyClosure} from './sandbox.js'

interface LockedPackage {
  version?: string
  dev?: boolean
  inBundle?: boolean
  bundleDependencies?: string[]
  dependencies?: Record<string, string>
  optionalDependencies?: Record<string, string>
}

export interface Shrinkwrap {
  lockfileVersion: number
  packages: Record<string, LockedPackage>
}

export function readShrinkwrap(file: string): Shrinkwrap {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Shrinkwrap
}

/** `a/node_modules/@scope/b` → `@scope/b`: the folder name, which is the name Node resolves. */
function folderName(location: string): string {
  const marker = 'node_modules/'
  return location.slice(location.lastIndexOf(marker) + marker.length)
}

const runtimeDependencies = (entry: LockedPackage) =>
  Object.keys({...entry.dependencies, ...entry.optionalDependencies})

/**
 * name@version of every package the shrinkwrap's root needs at run time (dev entries never reach a
 * user), or only what the root's dependencies `roots` reach (its bundleDependencies, say).
 */
export function lockedRuntimeTree(lock: Shrinkwrap, roots?: string[]): Set<string> {
  const resolve = (name: string, from: string): string | undefined => {
    for (let dir = from; ;) {
      const candidate = dir ? `${dir}/node_modules/${name}` : `node_modules/${name}`
      if (lock.packages[candidate]) return candidate
      if (!dir) return undefined
      const parent = dir.lastIndexOf('/node_modules/')
      dir = parent === -1 ? '' : dir.slice(0, parent)
    }
  }

  const seen = new Set<string>()
  const tree = new Set<string>()
  const visit = (location: string) => {
    if (seen.has(location)) return
    seen.add(location)
    const entry = lock.packages[location]
    if (location) tree.add(`${folderName(location)}@${entry.version}`)
    for (const name of location || !roots ? runtimeDependencies(entry) : roots) {
      const found = resolve(name, location)
      if (found) visit(found)
    }
  }

  visit('')
  return tree
}

/**
 * name@version of every package `pkg`, installed under `nodeModules`, reaches at run time, or only
 * what its dependencies `roots` reach, resolved from `pkg`'s own directory.
 */
export function installedRuntimeTree(nodeModules: string, pkg: string, roots?: string[]): Set<string> {
  const tree = new Set<string>()
  const pkgDir = path.join(nodeModules, pkg)
  const closure = roots ? dependencyClosure(nodeModules, roots, pkgDir) : dependencyClosure(nodeModules, [pkg])
  for (const dir of closure) {
    if (dir === pkgDir) continue
    const {version} = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as {version: string}
    tree.add(`${folderName(dir.split(path.sep).join('/'))}@${version}`)
  }

  return tree
}

/**
 * registry.npmjs.org records on publish whether a version ships npm-shrinkwrap.json
 * (`_hasShrinkwrap` in its metadata), and npm 7 to 11 install a dependency's shrinkwrap only when
 * the registry says so. verdaccio does not compute the flag, so the test sets it in verdaccio's
 * storage as the public registry would; a registry that never sets it (verdaccio, Artifactory, a
 * mirror that drops underscore fields) gets the `^` ranges instead for all that the package does
 * not bundle, and so does npm 12, which ignores shrinkwraps altogether.
 */
export function flagShrinkwrapInRegistry(storedMetadata: string, version: string): void {
  const metadata = JSON.parse(fs.readFileSync(storedMetadata, 'utf8')) as {
    versions: Record<string, Record<string, unknown>>
  }
  metadata.versions[version]._hasShrinkwrap = true
  fs.writeFileSync(storedMetadata, JSON.stringify(metadata, null, 2))
}

/** name@version of every package on disk under `nodeModules`, nested ones too, except `pkg` itself. */
export function everyInstalledPackage(nodeModules: string, pkg: string): Set<string> {
  const found = new Set<string>()
  for (const [location, version] of packageLocations(path.dirname(nodeModules)))
    if (location !== `node_modules/${pkg}`) found.add(`${folderName(location)}@${version}`)
  return found
}

/**
 * Every package directory under `dir` (a package's root) by its location, as package-lock.json
 * names them (`node_modules/a/node_modules/@scope/b`), with its version.
 */
export function packageLocations(dir: string): Map<string, string> {
  const found = new Map<string, string>()
  const walk = (nodeModules: string) => {
    if (!fs.existsSync(nodeModules)) return
    for (const entry of fs.readdirSync(nodeModules, {withFileTypes: true})) {
      if (!entry.isDirectory() || entry.name.startsWith('.')) continue
      const full = path.join(nodeModules, entry.name)
      if (entry.name.startsWith('@')) {
        for (const scoped of fs.readdirSync(full, {withFileTypes: true}))
          if (scoped.isDirectory()) visit(path.join(full, scoped.name))
      } else visit(full)
    }
  }

  const visit = (pkgDir: string) => {
    const manifest = path.join(pkgDir, 'package.json')
    if (!fs.existsSync(manifest)) return
    const {version} = JSON.parse(fs.readFileSync(manifest, 'utf8')) as {version: string}
    found.set(path.relative(dir, pkgDir).split(path.sep).join('/'), version)
    walk(path.join(pkgDir, 'node_modules'))
  }

  walk(path.join(dir, 'node_modules'))
  return found
}
