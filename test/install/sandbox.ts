/**
 * The machinery of the install test: a private npm configuration, a real verdaccio registry on
 * 127.0.0.1 serving only the @vpo scope, real `vpo` host CLIs built from host-template/, and async
 * process helpers (the Node 22 install runs concurrently with the other checks, so nothing here
 * blocks the event loop).
 *
 * Everything lives under one temporary directory: npm's cache and user config, the host's oclif
 * config/cache/data directories and HOME itself, so the machine's ~/.npmrc, ~/.npm, ~/.vpo and
 * ~/.cache are never read or written.
 */
import {spawn, spawnSync} from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

export const INSTALL_DIR = path.dirname(fileURLToPath(import.meta.url))
export const HOST_TEMPLATE = path.join(INSTALL_DIR, 'host-template')

/** verdaccio 6.8.0 needs node-fetch 2.7.0 (its pinned 2.6.x breaks on current Node). */
export const VERDACCIO = {version: '6.8.0', overrides: {'node-fetch': '2.7.0'}}

/** The newest lines that run on Node 20 (checked with `npm view PKG engines`). */
export const HOST_V4_DEPENDENCIES = {
  '@oclif/core': '^4.9.0',
  '@oclif/plugin-autocomplete': '~3.2.44', // 3.3 needs Node 22
  '@oclif/plugin-help': '^6.3.0',
  '@oclif/plugin-plugins': '^5.5.2',
}

/** oclif v5 and the plugin lines built on it all need Node 22. */
export const HOST_V5_DEPENDENCIES = {
  '@oclif/core': '^5.1.9',
  '@oclif/plugin-autocomplete': '^4.0.5',
  '@oclif/plugin-help': '^7.0.5',
  '@oclif/plugin-plugins': '^7.0.0',
}

export interface ProcResult {
  command: string
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  ms: number
}

export interface ProcOptions {
  cwd?: string
  env: NodeJS.ProcessEnv
  input?: string
  timeoutMs?: number
}

/** Runs a program to completion without blocking the event loop. */
export async function run(file: string, args: string[], options: ProcOptions): Promise<ProcResult> {
  const started = Date.now()
  const child = spawn(file, args, {cwd: options.cwd, env: options.env, stdio: ['pipe', 'pipe', 'pipe']})
  // A program that never reads its input may exit first: EPIPE on our end is no failure of it.
  child.stdin.on('error', () => {})
  child.stdin.end(options.input ?? '')
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk) => {
    stdout += chunk
  })
  child.stderr.on('data', (chunk) => {
    stderr += chunk
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000)
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (c, s) => resolve([c, s]))
  })
  clearTimeout(timer)
  return {command: [path.basename(file), ...args].join(' '), code, signal, stdout, stderr, ms: Date.now() - started}
}

/** Throws with the whole transcript when a setup step fails. */
export function expectSuccess(result: ProcResult): ProcResult {
  if (result.code !== 0) {
    throw new Error(
      `\`${result.command}\` exited ${result.code ?? result.signal}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`,
    )
  }

  return result
}

/** A port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/**
 * The parent's environment minus everything that would leak the machine's or the outer npm's
 * configuration into the sandbox: `npm test` exports dozens of npm_config_* variables (userconfig,
 * cache, registry, ...) that would override the private user config.
 */
export function baseEnv(sandbox: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(npm_|vpo_|xdg_|oclif_)/i.test(key) || key === 'DEBUG' || key === 'INIT_CWD') continue
    env[key] = value
  }

  const home = path.join(sandbox, 'home')
  fs.mkdirSync(home, {recursive: true})
  return {
    ...env,
    HOME: home,
    NO_COLOR: '1',
    npm_config_cache: path.join(sandbox, 'npm-cache'),
    npm_config_update_notifier: 'false',
  }
}

export interface NpmUserConfig {
  file: string
  env: NodeJS.ProcessEnv
}

/**
 * A private npm user config. nodedir points node-gyp at the headers of the Node that will load
 * the addon (without it, node-gyp tries to download headers); the rest mirrors what matters in
 * the machine's /root/.npmrc. The @vpo scope, and only it, resolves to the local registry.
 */
export function writeNpmUserConfig(
  file: string,
  options: {nodedir: string; registry: string; token?: string},
  env: NodeJS.ProcessEnv,
): NpmUserConfig {
  const url = new URL(options.registry)
  const lines = [
    `nodedir=${options.nodedir}`,
    'audit=false',
    'fund=false',
    'update-notifier=false',
    'omit-lockfile-registry-resolved=true',
    `@vpo:registry=${options.registry}`,
  ]
  if (options.token) lines.push(`//${url.host}${url.pathname}:_authToken=${options.token}`)
  fs.writeFileSync(file, lines.join('\n') + '\n', {mode: 0o600})
  return {file, env: {...env, npm_config_userconfig: file}}
}

/** `npm install` of a throwaway package.json in `dir`, with npm from PATH. */
export async function npmInstall(
  dir: string,
  manifest: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
): Promise<ProcResult> {
  fs.mkdirSync(dir, {recursive: true})
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({private: true, ...manifest}, null, 2) + '\n')
  return expectSuccess(
    await run('npm', ['install', '--no-package-lock', '--no-audit', '--no-fund'], {cwd: dir, env, timeoutMs: 300_000}),
  )
}

export interface Registry {
  url: string
  token: string
  stop(): Promise<void>
}

/** Starts verdaccio (installed in `installDir`) on 127.0.0.1 and creates a publishing user. */
export async function startRegistry(
  dir: string,
  installDir: string,
  port: number,
  env: NodeJS.ProcessEnv,
): Promise<Registry> {
  fs.mkdirSync(dir, {recursive: true})
  const url = `http://127.0.0.1:${port}/`
  fs.writeFileSync(
    path.join(dir, 'config.yaml'),
    [
      'storage: ./storage',
      'auth:',
      '  htpasswd:',
      '    file: ./htpasswd',
      '    max_users: 10',
      'uplinks: {}',
      'packages:',
      "  '@vpo/*':",
      '    access: $all',
      '    publish: $authenticated',
      '    unpublish: $authenticated',
      'web: {enable: false}',
      'log: {type: stdout, format: pretty, level: warn}',
      '',
    ].join('\n'),
  )
  const bin = path.join(installDir, 'node_modules', 'verdaccio', 'bin', 'verdaccio')
  const child = spawn(
    process.execPath,
    [bin, '--config', path.join(dir, 'config.yaml'), '--listen', `127.0.0.1:${port}`],
    {
      cwd: dir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let log = ''
  const collect = (chunk: Buffer) => {
    log += chunk
  }

  child.stdout.on('data', collect)
  child.stderr.on('data', collect)
  const exited = new Promise<void>((resolve) => {
    child.on('close', () => resolve())
  })
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    await exited
  }

  const deadline = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`verdaccio exited ${child.exitCode}:\n${log}`)
    const ok = await fetch(`${url}-/ping`).then(
      (response) => response.ok,
      () => false,
    )
    if (ok) break
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`verdaccio did not answer on ${url} within 30 s:\n${log}`)
    }

    await new Promise((resolve) => {
      setTimeout(resolve, 200)
    })
  }

  // What `npm adduser` does: PUT the user document, get a token back.
  const response = await fetch(`${url}-/user/org.couchdb.user:ci`, {
    method: 'PUT',
    headers: {'content-type': 'application/json'},
    body: JSON.stringify({
      _id: 'org.couchdb.user:ci',
      name: 'ci',
      password: 'ci-publisher-password',
      type: 'user',
      roles: [],
    }),
  })
  const body = (await response.json()) as {token?: string}
  if (!response.ok || !body.token) {
    await stop()
    throw new Error(`could not create a verdaccio user: ${response.status} ${JSON.stringify(body)}`)
  }

  return {url, token: body.token, stop}
}

/**
 * The files a release is made from: what git tracks plus untracked files it does not ignore,
 * copied as they are on disk; node_modules is a symlink to the checkout's (devDependencies:
 * tsc and oclif, which `prepack` needs). Publishing from this copy runs `prepack` (rm -rf dist,
 * build, manifest) without touching the checkout's dist/ that other tests use.
 */
export function copyReleaseSource(root: string, dest: string): void {
  const listed = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: root,
    encoding: 'utf8',
  })
  if (listed.status !== 0) throw new Error(`git ls-files failed in ${root}: ${listed.stderr}`)
  const files = listed.stdout.split('\0').filter((file) => file.length > 0 && !file.startsWith('test/'))
  for (const file of files) {
    const from = path.join(root, file)
    if (!fs.existsSync(from)) continue // deleted in the working tree
    fs.mkdirSync(path.dirname(path.join(dest, file)), {recursive: true})
    fs.copyFileSync(from, path.join(dest, file))
  }

  fs.symlinkSync(path.join(root, 'node_modules'), path.join(dest, 'node_modules'), 'dir')
}

export interface HostOptions {
  /** Where the host lives; its `vpo` wrapper is `<dir>/path/vpo`. */
  dir: string
  version: string
  dependencies: Record<string, string>
  topicSeparator: ' ' | ':'
  schemaVersion: number
  /** The node binary that runs the host. */
  node: string
  /** Private oclif directories. */
  dataDir: string
  configDir: string
  cacheDir: string
  /** Base environment (private HOME, npm cache and user config). */
  env: NodeJS.ProcessEnv
  /** Reuse another host's node_modules instead of installing (same dependencies). */
  shareNodeModulesWith?: Host
}

export class Host {
  readonly env: NodeJS.ProcessEnv
  readonly wrapper: string

  constructor(readonly options: HostOptions) {
    const pathDir = path.join(options.dir, 'path')
    this.wrapper = path.join(pathDir, 'vpo')
    this.env = {
      ...options.env,
      // `vpo` on PATH (completion scripts call it by name) and the host's node first, as for a user.
      PATH: [pathDir, path.dirname(options.node), options.env.PATH].join(path.delimiter),
      VPO_DATA_DIR: options.dataDir,
      VPO_CONFIG_DIR: options.configDir,
      VPO_CACHE_DIR: options.cacheDir,
    }
  }

  get dir(): string {
    return this.options.dir
  }

  /** Writes the host from host-template/ and installs (or links) its dependencies. */
  async create(): Promise<void> {
    const {dir} = this.options
    fs.mkdirSync(path.join(dir, 'bin'), {recursive: true})
    fs.copyFileSync(path.join(HOST_TEMPLATE, 'bin', 'run.js'), path.join(dir, 'bin', 'run.js'))
    fs.chmodSync(path.join(dir, 'bin', 'run.js'), 0o755)
    const template = JSON.parse(fs.readFileSync(path.join(HOST_TEMPLATE, 'package.json'), 'utf8')) as {
      oclif: Record<string, unknown>
      vpo: Record<string, unknown>
    }
    const manifest = {
      ...template,
      version: this.options.version,
      dependencies: this.options.dependencies,
      oclif: {...template.oclif, topicSeparator: this.options.topicSeparator},
      vpo: {...template.vpo, schemaVersion: this.options.schemaVersion},
    }
    fs.mkdirSync(path.dirname(this.wrapper), {recursive: true})
    fs.writeFileSync(
      this.wrapper,
      `#!/bin/sh\nexec '${this.options.node}' '${path.join(dir, 'bin', 'run.js')}' "$@"\n`,
      {mode: 0o755},
    )
    if (this.options.shareNodeModulesWith) {
      fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify(manifest, null, 2) + '\n')
      fs.symlinkSync(
        path.join(this.options.shareNodeModulesWith.dir, 'node_modules'),
        path.join(dir, 'node_modules'),
        'dir',
      )
    } else {
      await npmInstall(dir, manifest, this.env)
    }
  }

  /** `vpo ARGS`, as a user would type it. */
  async vpo(
    args: string[],
    options: {input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv} = {},
  ): Promise<ProcResult> {
    const result = await run(this.wrapper, args, {
      cwd: this.options.dataDir,
      env: {...this.env, ...options.env},
      input: options.input,
      timeoutMs: options.timeoutMs,
    })
    return {...result, command: ['vpo', ...args].join(' ')}
  }
}

/** bash with Debian's bash-completion, or why it cannot run here. */
export function bashCompletionMissing(): string | undefined {
  if (!fs.existsSync('/usr/share/bash-completion/bash_completion'))
    return 'bash-completion is not installed (apt-get install bash-completion)'
  if (spawnSync('bash', ['-c', 'true']).status !== 0) return 'bash is not available'
  return undefined
}

export function zshMissing(): string | undefined {
  const probe = spawnSync('zsh', ['-fc', 'zmodload zsh/zpty'])
  if (probe.error) return 'zsh is not installed (apt-get install zsh)'
  if (probe.status !== 0) return 'zsh has no zsh/zpty module'
  return undefined
}

/**
 * Completes `line` (cursor at the end) in real bash: sources bash-completion and the script
 * `vpo autocomplete:script bash` prints, then calls the function `complete -p vpo` names the way
 * bash does on TAB. Returns the command lines each candidate would produce.
 */
export async function completeInBash(host: Host, line: string): Promise<string[]> {
  const result = expectSuccess(
    await run('bash', [path.join(INSTALL_DIR, 'complete.bash'), line], {env: host.env, timeoutMs: 60_000}),
  )
  return result.stdout.split('\n').filter((candidate) => candidate.length > 0)
}

/** The same in real zsh: compinit, the script `vpo autocomplete:script zsh` prints, TAB in a pty. */
export async function completeInZsh(host: Host, line: string): Promise<string[]> {
  const result = expectSuccess(
    await run('zsh', ['-f', path.join(INSTALL_DIR, 'complete.zsh'), line], {env: host.env, timeoutMs: 60_000}),
  )
  return result.stdout.split('\n').filter((candidate) => candidate.length > 0)
}

/**
 * Size, mode and mtime of every entry under `dir` except the ones `skip` accepts: a cheap proof
 * that a command left a directory full of node_modules exactly as it was.
 */
export function statTree(dir: string, skip: (relative: string) => boolean = () => false): Record<string, string> {
  const state: Record<string, string> = {}
  const walk = (current: string) => {
    for (const entry of fs.readdirSync(current, {withFileTypes: true})) {
      const full = path.join(current, entry.name)
      const relative = path.relative(dir, full)
      if (skip(relative)) continue
      const stats = fs.lstatSync(full)
      state[relative] = `${stats.mode.toString(8)} ${stats.size} ${stats.mtimeMs}`
      if (entry.isDirectory()) walk(full)
    }
  }

  walk(dir)
  return state
}

/** Bytes on disk (allocated blocks, as du counts them) under `dir`, not descending into `skip`. */
export function diskBytes(dir: string, skip: (full: string) => boolean = () => false): number {
  let total = 0
  const walk = (current: string) => {
    for (const entry of fs.readdirSync(current, {withFileTypes: true})) {
      const full = path.join(current, entry.name)
      if (skip(full)) continue
      const stats = fs.lstatSync(full)
      total += stats.blocks * 512
      if (entry.isDirectory()) walk(full)
    }
  }

  walk(dir)
  return total
}

/**
 * The installed package directories `roots` pull in under `nodeModules`, resolved as Node does
 * (nested node_modules first, then upwards): what a dependency really costs a user. The roots are
 * resolved from the package directory `from` when given (a package's own dependencies), else
 * taken from the top of `nodeModules`.
 */
export function dependencyClosure(nodeModules: string, roots: string[], from?: string): Set<string> {
  const found = new Set<string>()
  const resolve = (name: string, from: string): string | undefined => {
    for (let dir = from; dir.startsWith(nodeModules); dir = path.dirname(dir)) {
      const candidate = path.join(dir, 'node_modules', name)
      if (fs.existsSync(path.join(candidate, 'package.json'))) return candidate
    }

    const top = path.join(nodeModules, name)
    return fs.existsSync(path.join(top, 'package.json')) ? top : undefined
  }

  const visit = (dir: string) => {
    if (found.has(dir)) return
    found.add(dir)
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>
      optionalDependencies?: Record<string, string>
    }
    for (const name of Object.keys({...manifest.dependencies, ...manifest.optionalDependencies})) {
      const resolved = resolve(name, dir)
      if (resolved) visit(resolved)
    }
  }

  for (const root of roots) {
    const dir = from ? resolve(root, from) : path.join(nodeModules, root)
    if (dir && fs.existsSync(path.join(dir, 'package.json'))) visit(dir)
  }

  return found
}

/** Bytes of these package directories, each without the packages nested in it. */
export function packagesBytes(dirs: Iterable<string>): number {
  let total = 0
  for (const dir of dirs) total += diskBytes(dir, (full) => path.basename(full) === 'node_modules')
  return total
}
