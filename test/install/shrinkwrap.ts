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

/** name@version of every package the shrinkwrap's root needs at run time (dev entries never reach a user). */
export function lockedRuntimeTree(lock: Shrinkwrap): Set<string> {
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
    for (const name of runtimeDependencies(entry)) {
      const found = resolve(name, location)
      if (found) visit(found)
    }
  }

  visit('')
  return tree
}

/** name@version of every package `pkg`, installed under `nodeModules`, reaches at run time. */
export function installedRuntimeTree(nodeModules: string, pkg: string): Set<string> {
  const tree = new Set<string>()
  for (const dir of dependencyClosure(nodeModules, [pkg])) {
    if (dir === path.join(nodeModules, pkg)) continue
    const {version} = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as {version: string}
    tree.add(`${folderName(dir.split(path.sep).join('/'))}@${version}`)
  }

  return tree
}
