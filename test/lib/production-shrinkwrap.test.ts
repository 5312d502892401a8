import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'

import {bundleDrift, type Lockfile, productionShrinkwrap} from '../../scripts/production-shrinkwrap.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

/** A project whose lock bundles `a` (which needs `b`, nested under it) and has a dev package `d`. */
function project(): {root: string; lock: Lockfile} {
  const root = makeTempDir('vpo-shrinkwrap')
  const write = (file: string, content: unknown) => {
    fs.mkdirSync(path.dirname(path.join(root, file)), {recursive: true})
    fs.writeFileSync(path.join(root, file), JSON.stringify(content))
  }

  write('package.json', {name: 'p', dependencies: {a: '^1.0.0'}, bundleDependencies: ['a'], devDependencies: {d: '1'}})
  write('node_modules/a/package.json', {name: 'a', version: '1.2.0'})
  write('node_modules/a/node_modules/b/package.json', {name: 'b', version: '2.0.1'})
  write('node_modules/d/package.json', {name: 'd', version: '1.0.0'})
  const lock: Lockfile = {
    lockfileVersion: 3,
    packages: {
      '': {name: 'p', bundleDependencies: ['a'], dependencies: {a: '^1.0.0'}, devDependencies: {d: '1'}},
      'node_modules/a': {version: '1.2.0', inBundle: true, dependencies: {b: '^2.0.0'}},
      'node_modules/a/node_modules/b': {version: '2.0.1', inBundle: true},
      'node_modules/d': {version: '1.0.0', dev: true},
    },
  }
  return {root, lock}
}

describe('prepack: npm-shrinkwrap.json and the bundle', () => {
  after(cleanupTempDirs)

  it('the shrinkwrap keeps the bundle and drops development packages', () => {
    const {lock} = project()
    const shrinkwrap = productionShrinkwrap(lock)
    expect(Object.keys(shrinkwrap.packages)).to.deep.equal(['', 'node_modules/a', 'node_modules/a/node_modules/b'])
    expect(shrinkwrap.packages['']).to.not.have.property('devDependencies')
    expect(shrinkwrap.packages[''].bundleDependencies).to.deep.equal(['a'])
  })

  it('packs a node_modules that is the locked tree', () => {
    const {root, lock} = project()
    expect(bundleDrift(root, lock)).to.deep.equal([])
  })

  it('refuses a bundled package at another version than the lock, or missing', () => {
    const {root, lock} = project()
    fs.writeFileSync(path.join(root, 'node_modules/a/node_modules/b/package.json'), '{"name":"b","version":"2.1.0"}')
    expect(bundleDrift(root, lock)).to.deep.equal([
      'node_modules/a/node_modules/b: 2.1.0 on disk, 2.0.1 in package-lock.json',
    ])
    fs.rmSync(path.join(root, 'node_modules/a'), {recursive: true})
    expect(bundleDrift(root, lock)).to.deep.equal([
      'node_modules/a: missing on disk, 1.2.0 in package-lock.json',
      'node_modules/a/node_modules/b: missing on disk, 2.0.1 in package-lock.json',
    ])
  })

  it('refuses a lock that does not bundle what package.json says, or bundles a development package', () => {
    const {root, lock} = project()
    lock.packages[''].bundleDependencies = []
    lock.packages['node_modules/a'].inBundle = false
    lock.packages['node_modules/d'].inBundle = true
    expect(bundleDrift(root, lock)).to.deep.equal([
      'package.json and package-lock.json name different bundleDependencies: run npm install',
      "a is not in the lock's bundle",
      'node_modules/d is a development package',
    ])
  })
})
