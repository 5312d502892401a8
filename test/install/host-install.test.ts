/**
 * The path users take, end to end: `npm publish` to a real registry (verdaccio on 127.0.0.1,
 * serving only the @vpo scope), `vpo plugins:install @vpo/library-backup` into a real oclif host
 * named `vpo`, the commands run through the host, completion in real bash and zsh, a host with a
 * space as topic separator, a host declaring another schema version, oclif v5 hosts on Node 22
 * and Node 24, and `vpo plugins:uninstall`. The package ships what a plugin ships (dist/, its
 * manifest, npm-shrinkwrap.json and its bundled run-time dependencies in node_modules/, exactly as
 * locked: no bin/ that would shadow the host's `vpo`, no help plugin of its own); every host gets
 * exactly the dependency versions the shrinkwrap pins, whatever newer ones the registry has; two
 * installs that ignore the shrinkwrap (npm 11 from a registry without `_hasShrinkwrap`, npm 12)
 * still get the bundled tree exactly as locked; and the suite prints what installing it costs
 * (time, size, the share of each direct dependency).
 *
 * Slow by nature (npm installs, better-sqlite3 compiling once per Node); skip it with
 * VPO_SKIP_INSTALL_TEST=1, skip only the Node 22 or 24 host with VPO_INSTALL_TEST_NODE22=0 or
 * VPO_INSTALL_TEST_NODE24=0, keep the sandbox with VPO_INSTALL_KEEP=1, and write the user-facing
 * transcript with VPO_INSTALL_TRANSCRIPT=FILE (the README's "Install into vpo" block is taken from it).
 */
import Database from 'better-sqlite3'
import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'

import {type Lockfile, productionShrinkwrap} from '../../scripts/production-shrinkwrap.js'
import {createLibrary, type LibrarySummary} from '../fixtures/library-generator.js'
import {ROOT} from '../helpers/cli.js'
import {gnuTarMetadata} from '../helpers/gnu-tar.js'
import {libraryContent, sha256File} from '../helpers/libraries.js'
import {skipSaying} from '../helpers/skips.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'
import {
  HOST_V5_VERSION,
  installIntoNewerHost,
  installNpm12,
  installWithNpm12,
  NEWER_NODES,
  NPM12,
  prepareNewerNodeHost,
} from './newer-nodes.js'
import {
  baseEnv,
  bashCompletionMissing,
  completeInBash,
  completeInZsh,
  copyReleaseSource,
  dependencyClosure,
  diskBytes,
  expectSuccess,
  freePort,
  Host,
  HOST_V4_DEPENDENCIES,
  npmInstall,
  packagesBytes,
  type ProcResult,
  type Registry,
  run,
  startRegistry,
  statTree,
  VERDACCIO,
  writeNpmUserConfig,
  zshMissing,
} from './sandbox.js'
import {
  everyInstalledPackage,
  flagShrinkwrapInRegistry,
  installedRuntimeTree,
  lockedRuntimeTree,
  packageLocations,
  readShrinkwrap,
  type Shrinkwrap,
} from './shrinkwrap.js'

const PACKAGE = '@vpo/library-backup'
const COMMAND_IDS = [
  'library:backup',
  'library:backups',
  'library:copy',
  'library:prune',
  'library:restore',
  'library:verify',
]
const HOST_VERSION = '4.2.0'
const SKIP = process.env.VPO_SKIP_INSTALL_TEST === '1'
const NEWER = NEWER_NODES.filter(({major}) => process.env[`VPO_INSTALL_TEST_NODE${major}`] !== '0')

interface ManifestCommand {
  id: string
  summary: string
  flags: Record<string, {name: string; char?: string}>
}

/** Whitespace-insensitive: help output wraps at the terminal width. */
const squash = (text: string) => text.replaceAll(/\s+/g, ' ')
const output = (result: ProcResult) => result.stdout + result.stderr

function hashTree(dir: string): Record<string, string> {
  const state: Record<string, string> = {}
  for (const name of fs.readdirSync(dir).sort()) {
    const full = path.join(dir, name)
    state[name] = fs.statSync(full).isFile() ? sha256File(full) : 'dir'
  }

  return state
}

/** The library a user has: the database, its WAL and shm, and the backups directory. */
function libraryState(dataDir: string): Record<string, string> {
  const state: Record<string, string> = {}
  for (const name of fs.readdirSync(dataDir)) {
    if (name.startsWith('library.db')) state[name] = sha256File(path.join(dataDir, name))
  }

  const backups = path.join(dataDir, 'backups')
  if (fs.existsSync(backups))
    for (const [name, hash] of Object.entries(hashTree(backups))) state[`backups/${name}`] = hash
  return state
}

const megabytes = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`

/** `vpo library:` offers every command, `vpo library:b` both backup commands; after `--`, every flag of each command (from its manifest). */
async function verifyCompletion(
  complete: (host: Host, line: string) => Promise<string[]>,
  host: Host,
  commands: ManifestCommand[],
) {
  expect(await complete(host, 'vpo library:'), 'vpo library:').to.include.members(COMMAND_IDS.map((id) => `vpo ${id}`))
  expect(await complete(host, 'vpo library:b'), 'vpo library:b').to.include.members([
    'vpo library:backup',
    'vpo library:backups',
  ])
  expect(await complete(host, 'vpo library:v'), 'vpo library:v').to.include.members(['vpo library:verify'])
  expect(await complete(host, 'vpo library:p'), 'vpo library:p').to.include.members(['vpo library:prune'])
  expect(await complete(host, 'vpo library:c'), 'vpo library:c').to.include.members(['vpo library:copy'])
  for (const command of commands) {
    const line = `vpo ${command.id} --`
    const expected = Object.values(command.flags).map((flag) => `vpo ${command.id} --${flag.name}`)
    expect(await complete(host, line), line).to.include.members(expected)
  }
}

/**
 * What installing costs a user, printed for the record rather than asserted (it depends on the
 * machine, the network and npm's cache): the time of `vpo plugins:install`, `du -sh` of the
 * node_modules it fills, and for each direct dependency what only it pulls in.
 */
async function reportInstallCost(label: string, install: ProcResult, nodeModules: string): Promise<void> {
  const manifest = JSON.parse(fs.readFileSync(path.join(nodeModules, PACKAGE, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>
  }
  const direct = Object.keys(manifest.dependencies)
  // A shrinkwrapped package gets its whole tree nested in its own node_modules.
  const nested = path.join(nodeModules, PACKAGE, 'node_modules')
  const tree = fs.existsSync(nested) ? nested : nodeModules
  const all = dependencyClosure(tree, direct)
  const du = await run('du', ['-sh', nodeModules], {env: process.env})
  const added = /added \d+ packages? in \S+/.exec(output(install))?.[0] ?? 'npm printed no summary'
  const lines = [
    `${label}: vpo plugins:install took ${(install.ms / 1000).toFixed(1)} s (npm: ${added}); du -sh ${du.stdout.split('\t')[0]} (${all.size} packages, plugin itself ${megabytes(diskBytes(path.join(nodeModules, PACKAGE), (full) => full === nested))})`,
  ]
  for (const dependency of direct) {
    const others = dependencyClosure(
      tree,
      direct.filter((name) => name !== dependency),
    )
    const own = [...all].filter((dir) => !others.has(dir))
    lines.push(`  ${dependency}: ${own.length} packages only it needs, ${megabytes(packagesBytes(own))}`)
  }

  console.log(lines.map((line) => `      [install cost] ${line}`).join('\n'))
}

describe('install into a real vpo host (verdaccio, plugins:install, completion)', function () {
  this.timeout(20 * 60_000)

  const transcript: ProcResult[] = []
  const record = (result: ProcResult) => {
    transcript.push(result)
    return result
  }

  /** `installed` and `locked` hold the same name@versions, the AWS SDK's among them. */
  const expectSameTree = (installed: Set<string>, locked: Set<string>, labels: {extra: string; missing: string}) => {
    expect([...locked].filter((found) => /^@(aws-sdk|smithy)\//.test(found)).length).to.be.greaterThan(20)
    expect(
      [...installed].filter((found) => !locked.has(found)),
      labels.extra,
    ).to.deep.equal([])
    expect(
      [...locked].filter((found) => !installed.has(found)),
      labels.missing,
    ).to.deep.equal([])
  }

  /** The plugin's run-time tree under `nodeModules` is the one the shrinkwrap pins, package for package. */
  const expectShrinkwrapped = (nodeModules: string) => {
    const locked = lockedRuntimeTree(shrinkwrap)
    expectSameTree(installedRuntimeTree(nodeModules, PACKAGE), locked, {
      extra: 'installed, but not as the shrinkwrap pins',
      missing: 'pinned, but not installed',
    })
    const onDisk = everyInstalledPackage(nodeModules, PACKAGE)
    expect(
      [...onDisk].filter((found) => !locked.has(found)),
      'installed, but needed by nothing',
    ).to.deep.equal([])
  }

  /**
   * For an install that did not follow the shrinkwrap: what the plugin's bundled dependencies
   * reach, resolved from the plugin as Node resolves it, is the locked tree package for package;
   * better-sqlite3, not bundled, is there at whatever version its range gave. Returns the packages
   * outside the bundle that differ from the lock (allowed: only the shrinkwrap pins those).
   */
  const expectBundledAsLocked = (nodeModules: string): string[] => {
    expectSameTree(installedRuntimeTree(nodeModules, PACKAGE, bundled), lockedRuntimeTree(shrinkwrap, bundled), {
      extra: 'bundled, but not as package-lock.json locks it',
      missing: 'locked in the bundle, but not installed',
    })
    const all = installedRuntimeTree(nodeModules, PACKAGE)
    expect(
      [...all].some((found) => found.startsWith('better-sqlite3@')),
      'better-sqlite3 installed',
    ).to.equal(true)
    const lockedAll = lockedRuntimeTree(shrinkwrap)
    return [...all].filter((found) => !lockedAll.has(found))
  }

  let work: string
  let registry: Registry | undefined
  let pkgVersion: string
  let publish: ProcResult
  let install: ProcResult
  let host: Host
  let spaceHost: Host
  let schema26Host: Host
  let dataDir: string
  let library: LibrarySummary
  let libraryBeforeInstall: Record<string, string>
  let commands: ManifestCommand[]
  /** Per newer Node major: its host once the plugin is installed (their npm work overlaps the rest). */
  const newerHosts = new Map<number, Promise<{host: Host; install: ProcResult}>>()
  let shrinkwrap: Shrinkwrap
  let firstBackup: string
  let distBeforePublish: boolean
  let distAfterPublish: boolean
  /**
   * What the tarball must ship in node_modules/: every run-time dependency but better-sqlite3
   * (native: the user's npm compiles it for their Node). Taken from `dependencies`, not from
   * `bundleDependencies`, so that a package that stops bundling fails the checks of what gets installed.
   */
  let bundled: string[]
  /** npm 11 from a registry that never sets `_hasShrinkwrap` (a mirror): the shrinkwrap is not followed. */
  let mirror: {metadata: Record<string, unknown>; result: ProcResult; nodeModules: string}
  /** npm 12, which loads no shrinkwrap at all, on the newest host's Node (undefined: no newer host). */
  let npm12: Promise<{major: number; result: ProcResult; nodeModules: string; npmVersion: string}> | undefined

  before(async function () {
    if (SKIP) {
      console.log('      skipped: VPO_SKIP_INSTALL_TEST=1')
      this.skip()
    }

    this.timeout(15 * 60_000)
    const started = Date.now()
    const step = (label: string) =>
      console.log(`      [install suite] ${label} (${Math.round((Date.now() - started) / 1000)} s)`)
    work = makeTempDir('vpo-install')
    // The tree every other suite runs on; the published shrinkwrap is its run-time part.
    shrinkwrap = readShrinkwrap(path.join(ROOT, 'package-lock.json'))
    bundled = Object.keys(shrinkwrap.packages[''].dependencies ?? {}).filter((name) => name !== 'better-sqlite3')
    const env = baseEnv(work)
    const port = await freePort()
    const registryUrl = `http://127.0.0.1:${port}/`
    const npmrc = path.join(work, 'npmrc')
    const npm = writeNpmUserConfig(
      npmrc,
      {nodedir: path.resolve(path.dirname(process.execPath), '..'), registry: registryUrl},
      env,
    )

    dataDir = path.join(work, 'vpo-data')
    const hostOptions = {
      version: HOST_VERSION,
      dependencies: HOST_V4_DEPENDENCIES,
      node: process.execPath,
      dataDir,
      env: npm.env,
      schemaVersion: 27,
    }
    host = new Host({
      ...hostOptions,
      dir: path.join(work, 'host'),
      topicSeparator: ':',
      configDir: path.join(work, 'config'),
      cacheDir: path.join(work, 'cache'),
    })
    spaceHost = new Host({
      ...hostOptions,
      dir: path.join(work, 'host-spaces'),
      topicSeparator: ' ',
      configDir: path.join(work, 'config-spaces'),
      cacheDir: path.join(work, 'cache-spaces'),
      shareNodeModulesWith: host,
    })
    schema26Host = new Host({
      ...hostOptions,
      dir: path.join(work, 'host-schema26'),
      topicSeparator: ':',
      schemaVersion: 26,
      configDir: path.join(work, 'config-schema26'),
      cacheDir: path.join(work, 'cache-schema26'),
      shareNodeModulesWith: host,
    })

    // The user already has a library when they install the plugin; VPO_DATA_DIR is shared.
    library = createLibrary(path.join(dataDir, 'library.db'), {files: 1500, walFiles: 25})
    libraryBeforeInstall = libraryState(dataDir)

    // Node 22 and 24 hosts: their npm work overlaps with everything below, and with each other.
    const sandbox = {work, registryUrl, env}
    const prepared = NEWER.map((node) => {
      const ready = prepareNewerNodeHost(sandbox, node)
      ready.catch(() => {}) // awaited (and reported) below
      return ready
    })

    const npm12Cli = installNpm12(work, npm.env)
    npm12Cli.catch(() => {}) // awaited below
    const verdaccioDir = path.join(work, 'verdaccio')
    await Promise.all([
      npmInstall(
        verdaccioDir,
        {name: 'vpo-test-registry', dependencies: {verdaccio: VERDACCIO.version}, overrides: VERDACCIO.overrides},
        npm.env,
      ),
      host.create(),
    ])
    await Promise.all([spaceHost.create(), schema26Host.create()])
    step('verdaccio and the host installed')

    registry = await startRegistry(path.join(work, 'registry'), verdaccioDir, port, env)
    writeNpmUserConfig(
      npmrc,
      {nodedir: path.resolve(path.dirname(process.execPath), '..'), registry: registryUrl, token: registry.token},
      env,
    )

    // Publish exactly as a release would, from a copy of the checkout (prepack builds there).
    const source = path.join(work, 'release-source')
    copyReleaseSource(ROOT, source)
    pkgVersion = (JSON.parse(fs.readFileSync(path.join(source, 'package.json'), 'utf8')) as {version: string}).version
    distBeforePublish = fs.existsSync(path.join(source, 'dist'))
    publish = record(expectSuccess(await run('npm', ['publish'], {cwd: source, env: npm.env, timeoutMs: 300_000})))
    distAfterPublish = fs.existsSync(path.join(source, 'dist', 'commands', 'library', 'backup.js'))
    step('published')
    // As a mirror serves it (no `_hasShrinkwrap`), before the flag is set; with a cache of its own,
    // so that no later install finds this metadata in npm's cache. Scripts are not run: the tree is the point.
    const mirrorDir = path.join(work, 'mirror-install')
    fs.mkdirSync(mirrorDir)
    fs.writeFileSync(path.join(mirrorDir, 'package.json'), JSON.stringify({name: 'mirror', private: true}) + '\n')
    mirror = {
      metadata: (
        (await (await fetch(`${registryUrl}@vpo%2flibrary-backup`)).json()) as {
          versions: Record<string, Record<string, unknown>>
        }
      ).versions[pkgVersion],
      result: record(
        await run('npm', ['install', PACKAGE, '--ignore-scripts'], {
          cwd: mirrorDir,
          env: {...npm.env, npm_config_cache: path.join(work, 'npm-cache-mirror')},
          timeoutMs: 300_000,
        }),
      ),
      nodeModules: path.join(mirrorDir, 'node_modules'),
    }
    step('installed with npm 11 as from a mirror')
    flagShrinkwrapInRegistry(
      path.join(work, 'registry', 'storage', '@vpo', 'library-backup', 'package.json'),
      pkgVersion,
    )

    // npm 12 on the newest Node the suite has; its install overlaps the hosts' installs.
    if (prepared.length > 0) {
      npm12 = Promise.all([prepared.at(-1)!, npm12Cli]).then(async ([newer, cli]) => {
        const installed = await installWithNpm12(newer, cli, sandbox, PACKAGE)
        step(`npm ${NPM12} on Node ${newer.major}: installed`)
        return {major: newer.major, ...installed}
      })
      npm12.catch(() => {})
    }

    for (const ready of prepared) {
      const installed = ready.then(async (newer) => {
        const result = await installIntoNewerHost(newer, sandbox, PACKAGE, registry!.token)
        step(`Node ${newer.major} host: plugin installed`)
        if (result.code === 0)
          await reportInstallCost(
            `Node ${newer.major} host`,
            result,
            path.join(newer.host.options.dataDir, 'node_modules'),
          )
        return {host: newer.host, install: result}
      })
      installed.catch(() => {})
      newerHosts.set(NEWER[prepared.indexOf(ready)].major, installed)
    }

    install = record(await host.vpo(['plugins:install', PACKAGE], {timeoutMs: 900_000}))
    step('plugin installed')
    expectSuccess(install)
    await reportInstallCost('Node 20 host', install, path.join(dataDir, 'node_modules'))
    const manifestPath = path.join(dataDir, 'node_modules', '@vpo', 'library-backup', 'oclif.manifest.json')
    commands = Object.values(
      (JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as {commands: Record<string, ManifestCommand>}).commands,
    )
  })

  after(async function () {
    this.timeout(15 * 60_000)
    if (!work) return
    await Promise.allSettled([...newerHosts.values(), npm12])
    await registry?.stop()
    const file = process.env.VPO_INSTALL_TRANSCRIPT
    if (file) {
      const text = transcript.map((result) => `$ ${result.command}\n${result.stdout}${result.stderr}`).join('\n')
      fs.writeFileSync(file, text.replaceAll(work, '/tmp/vpo-install'))
    }

    if (process.env.VPO_INSTALL_KEEP === '1') console.log(`      sandbox kept: ${work}`)
    else cleanupTempDirs()
  })

  it('npm publish runs prepack; the tarball holds the built code, its manifest, package.json, README, npm-shrinkwrap.json and the bundled node_modules only', async () => {
    expect(distBeforePublish, 'the release copy starts without dist/').to.equal(false)
    expect(distAfterPublish, 'prepack built dist/').to.equal(true)
    expect(output(publish)).to.include(`+ ${PACKAGE}@${pkgVersion}`)
    const served = (await fetch(`${registry!.url}@vpo%2flibrary-backup`).then(async (response) => response.json())) as {
      versions: Record<string, {dist: {tarball: string}}>
    }
    expect(Object.keys(served.versions)).to.deep.equal([pkgVersion])

    // The tarball users download, not npm's account of what it packed.
    const tarball = path.join(work, 'published.tgz')
    fs.writeFileSync(tarball, Buffer.from(await (await fetch(served.versions[pkgVersion].dist.tarball)).arrayBuffer()))
    const shipped = expectSuccess(await run('tar', ['-tzf', tarball], {env: process.env}))
      .stdout.split('\n')
      .filter((entry) => entry.length > 0 && !entry.endsWith('/'))
      .map((entry) => entry.replace(/^package\//, ''))
    expect(new Set(shipped.map((file) => file.split('/')[0])), 'top level of the tarball').to.deep.equal(
      new Set(['README.md', 'dist', 'node_modules', 'npm-shrinkwrap.json', 'oclif.manifest.json', 'package.json']),
    )
    // npm ignores a dependency's package-lock.json; only a shipped shrinkwrap pins what users get,
    // and without dev entries, which npm would install for users too.
    const shippedLock = JSON.parse(
      expectSuccess(await run('tar', ['-xzOf', tarball, 'package/npm-shrinkwrap.json'], {env: process.env})).stdout,
    ) as Lockfile
    expect(shippedLock, 'shipped shrinkwrap').to.deep.equal(productionShrinkwrap(shrinkwrap as unknown as Lockfile))
    expect(Object.values(shippedLock.packages).filter((entry) => entry.dev)).to.deep.equal([])
    expect(fs.existsSync(path.join(work, 'release-source', 'npm-shrinkwrap.json')), 'postpack removes it').to.equal(
      false,
    )
    expect(shipped).to.include.members(COMMAND_IDS.map((id) => `dist/commands/${id.replace(':', '/')}.js`))
    expect(
      shipped.filter((file) => file.startsWith('dist/') && !/\.(js|d\.ts)$/.test(file)),
      'sources, maps or tests under dist/',
    ).to.deep.equal([])

    const published = JSON.parse(
      expectSuccess(await run('tar', ['-xzOf', tarball, 'package/package.json'], {env: process.env})).stdout,
    ) as {
      bin?: unknown
      directories?: {bin?: string}
      dependencies: Record<string, string>
      bundleDependencies?: string[]
      oclif: {plugins?: string[]; devPlugins?: string[]}
    }
    expect(published.bin, 'an npm bin named vpo would shadow the host').to.equal(undefined)
    // Pinned exactly: AWS SDK releases after early January 2027 need Node 22.
    expect(published.dependencies['@aws-sdk/client-s3']).to.match(/^\d+\.\d+\.\d+$/)
    expect(lockedRuntimeTree(shrinkwrap)).to.include(
      `@aws-sdk/client-s3@${published.dependencies['@aws-sdk/client-s3']}`,
    )
    expect(published.directories?.bin).to.equal(undefined)

    // bundleDependencies: every run-time dependency but better-sqlite3 (native, compiled by the
    // user's npm for their Node), shipped in node_modules/ exactly as package-lock.json locks it, so
    // that no npm and no registry can swap a version (npm 12 and mirrors ignore the shrinkwrap).
    expect(published.bundleDependencies, 'bundleDependencies').to.deep.equal(bundled)
    expect(shrinkwrap.packages[''].bundleDependencies, "package-lock.json's bundleDependencies").to.deep.equal(bundled)
    const unpacked = path.join(work, 'published')
    fs.mkdirSync(unpacked)
    expectSuccess(await run('tar', ['-xzf', tarball, '-C', unpacked], {env: process.env}))
    const shippedPackages = packageLocations(path.join(unpacked, 'package'))
    const lockedBundle = new Map(
      Object.entries(shrinkwrap.packages)
        .filter(([location, entry]) => location && entry.inBundle)
        .map(([location, entry]) => [location, entry.version!]),
    )
    expect(
      Object.fromEntries([...shippedPackages].sort()),
      'node_modules/ in the tarball: location and version of each package',
    ).to.deep.equal(Object.fromEntries([...lockedBundle].sort()))
    // The lock's inBundle marks are npm's; the same set, walked from bundleDependencies as Node resolves:
    expect(
      new Set(
        [...shippedPackages].map(([location, version]) => `${location.replace(/^.*node_modules\//, '')}@${version}`),
      ),
    ).to.deep.equal(lockedRuntimeTree(shrinkwrap, bundled))
    expect(
      [...shippedPackages.keys()].filter((location) => /^node_modules\/@(aws-sdk|smithy)\//.test(location)).length,
    ).to.be.greaterThan(20)
    expect(
      [...lockedBundle.keys()].filter((location) => shrinkwrap.packages[location].dev),
      'development packages in the bundle',
    ).to.deep.equal([])
    const development =
      /^(typescript|eslint.*|@eslint\/.*|mocha|chai|@types\/.*|oclif|@oclif\/(test|plugin-.*|prettier-config)|tsx|esbuild|@esbuild\/.*|verdaccio|s3rver|age-encryption|cctv-age|prettier)$/
    const native = /^(better-sqlite3|bindings|prebuild-install|node-abi)$/
    const names = [...shippedPackages.keys()].map((location) => location.replace(/^.*node_modules\//, ''))
    expect(
      names.filter((name) => development.test(name) || native.test(name)),
      'not to be bundled',
    ).to.deep.equal([])
    // Nothing else under node_modules/: no .bin links, no .package-lock.json, no stray files.
    const owner = (file: string) =>
      [...shippedPackages.keys()].some(
        (location) => file.startsWith(`${location}/`) && !file.slice(location.length + 1).startsWith('node_modules/'),
      )
    expect(
      shipped.filter((file) => file.startsWith('node_modules/') && !owner(file)),
      'files under node_modules/ outside the bundled packages',
    ).to.deep.equal([])
    expect(published.oclif.plugins ?? [], 'plugins a host would load with ours').to.deep.equal([])
    expect(Object.keys(published.dependencies)).to.not.include.members(['@oclif/plugin-help', 'check-disk-space'])
    // Everything else comes from the default registry: this one has no uplinks and no other scope.
    expect((await fetch(`${registry!.url}@oclif%2fcore`)).ok).to.equal(false)
  })

  it('vpo plugins:install installs it into VPO_DATA_DIR next to the library, and vpo plugins lists it', async () => {
    expect(output(install)).to.include(`installed v${pkgVersion}`)
    const userPlugins = JSON.parse(fs.readFileSync(path.join(dataDir, 'package.json'), 'utf8')) as {
      oclif: {plugins: Array<{name: string}>}
    }
    expect(userPlugins.oclif.plugins.map((plugin) => plugin.name)).to.include(PACKAGE)
    expect(libraryState(dataDir), 'installing must not touch the library').to.deep.equal(libraryBeforeInstall)
    const plugins = record(await host.vpo(['plugins']))
    expect(plugins.code).to.equal(0)
    expect(plugins.stdout).to.include(`${PACKAGE} ${pkgVersion}`)
    // oclif lists a plugin's own `oclif.plugins` under it (`└─ @oclif/plugin-help`); help is the host's.
    expect(plugins.stdout, 'a plugin nested in ours').to.not.match(/@oclif\/plugin-help|└─/)
    expect(plugins.stderr).to.equal('')
    expect(
      fs.existsSync(path.join(dataDir, 'node_modules', '@oclif', 'plugin-help')),
      'plugin-help installed with ours',
    ).to.equal(false)
    expect(commands.map((command) => command.id).sort()).to.deep.equal(COMMAND_IDS)
  })

  it('the Node 20 host got exactly the versions npm-shrinkwrap.json pins (every @aws-sdk and @smithy package too)', () => {
    expectShrinkwrapped(path.join(dataDir, 'node_modules'))
  })

  it('from a registry that never sets _hasShrinkwrap (a mirror), npm 11 ignores the shrinkwrap and still installs the bundled tree exactly as locked', () => {
    expect(mirror.metadata, 'the version as the mirror served it').to.not.have.property('_hasShrinkwrap')
    expect(mirror.result.code, output(mirror.result)).to.equal(0)
    const floated = expectBundledAsLocked(mirror.nodeModules)
    if (floated.length > 0) console.log(`      outside the bundle, not as locked: ${floated.join(', ')}`)
  })

  it(`npm ${NPM12}, which loads no npm-shrinkwrap.json, installs the bundled tree exactly as locked`, async function () {
    if (!npm12) {
      console.log('      skipped: npm 12 needs Node 22 or 24, and both newer hosts are skipped')
      this.skip()
    }

    const {result, nodeModules, npmVersion} = await npm12!
    expect(npmVersion).to.equal(NPM12)
    expect(result.code, output(result)).to.equal(0)
    const floated = expectBundledAsLocked(nodeModules)
    if (floated.length > 0) console.log(`      outside the bundle, not as locked: ${floated.join(', ')}`)
  })

  it("installs no `vpo` of its own: the host's binary is the one that runs", async () => {
    const binDir = path.join(dataDir, 'node_modules', '.bin')
    const linked = fs.existsSync(binDir) ? fs.readdirSync(binDir) : []
    expect(linked, 'npm bin links from the plugin install').to.not.include('vpo')
    const version = await host.vpo(['--version'])
    expect(version.stdout).to.match(new RegExp(`^vpo/${HOST_VERSION.replaceAll('.', String.raw`\.`)} `))
  })

  it('vpo --help shows the library topic; vpo library --help shows the six commands with their summaries', async () => {
    const pjson = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      oclif: {topics: {library: {description: string}}}
    }
    const root = await host.vpo(['--help'])
    expect(root.code).to.equal(0)
    expect(squash(root.stdout)).to.include(`library ${pjson.oclif.topics.library.description}`)
    const topic = record(await host.vpo(['library', '--help']))
    expect(topic.code).to.equal(0)
    expect(topic.stderr).to.equal('')
    for (const command of commands) expect(squash(topic.stdout)).to.include(`${command.id} ${command.summary}`)
  })

  it('vpo library:backup -h prints the command help through the host', async () => {
    const backupCommand = commands.find((command) => command.id === 'library:backup')!
    const help = await host.vpo(['library:backup', '-h'])
    expect(help.code, output(help)).to.equal(0)
    expect(help.stderr).to.equal('')
    expect(squash(help.stdout)).to.include('USAGE $ vpo library:backup')
    for (const flag of Object.values(backupCommand.flags)) expect(help.stdout).to.include(`--${flag.name}`)
  })

  it('backs up, lists and dry-run restores through the host; vpo_version is the host version', async () => {
    const backup = record(await host.vpo(['library:backup']))
    expect(backup.code, output(backup)).to.equal(0)
    // A local backup loads nothing of the AWS SDK, whose Node-version warning would land here.
    expect(backup.stderr, 'warnings from a local backup').to.equal('')
    const created = /Backup created: (.+)/.exec(backup.stdout)
    expect(created, backup.stdout).to.not.equal(null)
    firstBackup = created![1].trim()
    expect(path.dirname(firstBackup)).to.equal(path.join(dataDir, 'backups'))
    expect(backup.stdout).to.include(`Files in library: ${library.fileCount.toLocaleString('en-US')}`)

    const metadata = gnuTarMetadata(firstBackup)
    expect(metadata.vpo_version).to.equal(HOST_VERSION)
    expect(metadata.schema_version).to.equal(27)
    expect(metadata.file_count).to.equal(library.fileCount)

    const listing = record(await host.vpo(['library:backups']))
    expect(listing.code).to.equal(0)
    expect(listing.stderr).to.equal('')
    expect(listing.stdout).to.include(path.basename(firstBackup))
    expect(listing.stdout).to.include('Total: 1 backup')

    const before = libraryState(dataDir)
    const dryRun = record(await host.vpo(['library:restore', firstBackup, '--dry-run']))
    expect(dryRun.code, output(dryRun)).to.equal(0)
    expect(dryRun.stdout).to.match(
      new RegExp(String.raw`VPO version:\s+` + HOST_VERSION.replaceAll('.', String.raw`\.`)),
    )
    expect(dryRun.stdout).to.match(/Schema:\s+27 \(current: 27\)/)
    expect(dryRun.stdout).to.include('No changes made (dry run).')
    expect(libraryState(dataDir)).to.deep.equal(before)
  })

  it('restore compares against the schema version the host declares (a host at 26 refuses a schema-27 backup, exit 6)', async () => {
    const before = libraryState(dataDir)
    const dryRun = await schema26Host.vpo(['library:restore', firstBackup, '--dry-run', '--json'])
    expect(dryRun.code, output(dryRun)).to.equal(6)
    const restore = await schema26Host.vpo(['library:restore', firstBackup, '--yes', '--json'])
    expect(restore.code, output(restore)).to.equal(6)
    const body = JSON.parse(restore.stdout) as {success: boolean; error: {exit_code: number; message: string}}
    expect(body.success).to.equal(false)
    expect(body.error.exit_code).to.equal(6)
    expect(body.error.message).to.include('26')
    expect(restore.stderr).to.equal('')
    // The host's own @oclif/core handles our exit: one sentence, no "Error: EEXIT: 6" after it.
    const human = await schema26Host.vpo(['library:restore', firstBackup, '--yes'])
    expect(human.code).to.equal(6)
    expect(human.stderr).to.match(/^Error: [^\n]*26[^\n]*\n$/)
    expect(libraryState(dataDir)).to.deep.equal(before)
  })

  it('bash completion (Debian bash-completion): vpo library: offers all six commands, vpo library:b both backup ones; every flag after --', async function () {
    const missing = bashCompletionMissing()
    skipSaying(this, missing && `skipped: ${missing}`)

    await verifyCompletion(completeInBash, host, commands)
  })

  it('zsh completion: the same through compinit and a TAB in a pseudo-terminal', async function () {
    const missing = zshMissing()
    skipSaying(this, missing && `skipped: ${missing}`)

    await verifyCompletion(completeInZsh, host, commands)
  })

  it('a host whose topicSeparator is a space runs `vpo library backup` and completes it in bash and zsh', async function () {
    const backup = await spaceHost.vpo(['library', 'backup', '--json'])
    expect(backup.code, output(backup)).to.equal(0)
    expect((JSON.parse(backup.stdout) as {success: boolean}).success).to.equal(true)
    const listing = await spaceHost.vpo(['library', 'backups', '--json'])
    expect(listing.code, output(listing)).to.equal(0)
    expect((JSON.parse(listing.stdout) as {total_count: number}).total_count).to.equal(2)
    const help = await spaceHost.vpo(['library', '--help'])
    expect(squash(help.stdout)).to.include('$ vpo library COMMAND')
    expect(squash(help.stdout)).to.include('library backup ')

    // Generated completion functions live in the host's cache; this host has not built it yet.
    expectSuccess(await spaceHost.vpo(['autocomplete', '--refresh-cache']))
    const skipped: string[] = []
    for (const [name, missing, complete] of [
      ['bash', bashCompletionMissing(), completeInBash],
      ['zsh', zshMissing(), completeInZsh],
    ] as const) {
      if (missing) {
        skipped.push(`${name}: ${missing}`)
        continue
      }

      const offered = await complete(spaceHost, 'vpo library b')
      expect(offered, `${name}: vpo library b`).to.include.members(['vpo library backup', 'vpo library backups'])
      expect(await complete(spaceHost, 'vpo library v'), `${name}: vpo library v`).to.include.members([
        'vpo library verify',
      ])
      expect(await complete(spaceHost, 'vpo library p'), `${name}: vpo library p`).to.include.members([
        'vpo library prune',
      ])
      const flags = await complete(spaceHost, 'vpo library backup --')
      expect(flags, `${name}: vpo library backup --`).to.include.members(
        ['--json', '--output', '--dry-run', '--db', '--force', '--keep'].map((flag) => `vpo library backup ${flag}`),
      )
    }

    if (skipped.length > 0) console.log(`      completion checks skipped: ${skipped.join('; ')}`)
    if (skipped.length === 2) this.skip()
  })

  it('shares VPO_DATA_DIR with the host: touches nothing but library.db*, backups/ and its temporary files', async () => {
    // backup-history.json is the shrink guard's record, ours as library.db is.
    const ours = (relative: string) =>
      relative.startsWith('library.db') ||
      relative === 'backup-history.json' ||
      relative === 'backups' ||
      relative.startsWith(`backups${path.sep}`)
    const hostFiles = statTree(dataDir, ours)
    expect(Object.keys(hostFiles)).to.include.members(['package.json', 'node_modules'])

    const backup = await host.vpo(['library:backup', '--json'])
    expect(backup.code, output(backup)).to.equal(0)
    const listing = await host.vpo(['library:backups'])
    expect(listing.code, output(listing)).to.equal(0)
    // Listing the data directory itself: package.json and node_modules are not backups.
    const dataListing = await host.vpo(['library:backups', '--path', dataDir, '--json'])
    expect(dataListing.code, output(dataListing)).to.equal(0)
    expect(JSON.parse(dataListing.stdout)).to.include({total_count: 0})
    const dataListingHuman = await host.vpo(['library:backups', '--path', dataDir])
    expect(dataListingHuman.code).to.equal(0)
    expect(dataListingHuman.stdout).to.include(`No backups found in ${dataDir}`)

    const restore = await host.vpo(['library:restore', firstBackup, '--yes', '--json'])
    expect(restore.code, output(restore)).to.equal(0)
    const restored = JSON.parse(restore.stdout) as {safety_backup_path: string}
    expect(path.dirname(restored.safety_backup_path)).to.equal(path.join(dataDir, 'backups'))

    expect(statTree(dataDir, ours), 'host files in the shared data directory').to.deep.equal(hostFiles)
    const topLevel = fs.readdirSync(dataDir).filter((name) => !(name in hostFiles))
    expect(
      // backup-history.json: the shrink guard's record of the backups made (README "When the library shrinks").
      topLevel.filter(
        (name) => !/^library\.db(-wal|-shm)?$/.test(name) && !['backup-history.json', 'backups'].includes(name),
      ),
      'leftovers in the data directory',
    ).to.deep.equal([])
    expect(
      fs.readdirSync(path.join(dataDir, 'backups')).filter((name) => !/^vpo-library-.*\.tar\.gz$/.test(name)),
      'leftovers in backups/',
    ).to.deep.equal([])
  })

  it('verifies and prunes through the host', async () => {
    const regular = () =>
      fs
        .readdirSync(path.join(dataDir, 'backups'))
        .filter((name) => /^vpo-library-[\dT-]+Z(-\d+)?\.tar\.gz$/.test(name))
    const verify = record(await host.vpo(['library:verify']))
    expect(verify.code, output(verify)).to.equal(0)
    expect(verify.stderr).to.equal('')
    const verified = await host.vpo(['library:verify', '--json'])
    const body = JSON.parse(verified.stdout) as {success: boolean; backups: Array<{ok: boolean}>}
    expect(body.success).to.equal(true)
    expect(body.backups.length).to.be.greaterThan(1)
    expect(body.backups.every((backup) => backup.ok)).to.equal(true)

    expect(regular().length).to.be.greaterThan(1)
    const dryRun = await host.vpo(['library:prune', '--keep-last', '1', '--dry-run', '--json'])
    expect(dryRun.code, output(dryRun)).to.equal(0)
    const planned = JSON.parse(dryRun.stdout) as {removed: string[]}
    expect(planned.removed.length).to.equal(regular().length - 1)
    const prune = record(await host.vpo(['library:prune', '--keep-last', '1']))
    expect(prune.code, output(prune)).to.equal(0)
    expect(prune.stderr).to.equal('')
    expect(regular().length).to.equal(1)
  })

  for (const {major} of NEWER_NODES) {
    it(`an oclif v5 host on Node ${major}: the shrinkwrapped versions, better-sqlite3 built for Node ${major}, a backup restored`, async function () {
      const installed = newerHosts.get(major)
      if (!installed) {
        console.log(`      skipped: VPO_INSTALL_TEST_NODE${major}=0`)
        this.skip()
      }

      const {host: host5, install: install5} = await installed!
      expect(install5.code, output(install5)).to.equal(0)
      const version = await host5.vpo(['--version'])
      expect(version.stdout).to.match(new RegExp(String.raw`^vpo/5\.0\.0 .* node-v${major}\.`))
      const core = JSON.parse(
        fs.readFileSync(path.join(host5.dir, 'node_modules', '@oclif', 'core', 'package.json'), 'utf8'),
      ) as {version: string}
      expect(core.version).to.match(/^5\./)
      expectShrinkwrapped(path.join(host5.options.dataDir, 'node_modules'))
      const topic = await host5.vpo(['library', '--help'])
      for (const command of commands) expect(squash(topic.stdout)).to.include(`${command.id} ${command.summary}`)

      // One round trip: back up, change the library, restore, and the backed-up content is back.
      const database = path.join(host5.options.dataDir, 'library.db')
      const original = libraryContent(database)
      const backup = await host5.vpo(['library:backup', '--json'])
      expect(backup.code, output(backup)).to.equal(0)
      expect(backup.stderr, `warnings from a local backup on Node ${major}`).to.equal('')
      const {path: archive} = JSON.parse(backup.stdout) as {path: string}
      expect(gnuTarMetadata(archive).vpo_version).to.equal(HOST_V5_VERSION)
      const db = new Database(database)
      db.exec('DELETE FROM files WHERE rowid % 2 = 0')
      db.close()
      expect(libraryContent(database).rows).to.be.lessThan(original.rows)
      const restore = await host5.vpo(['library:restore', archive, '--yes', '--json'])
      expect(restore.code, output(restore)).to.equal(0)
      expect(JSON.parse(restore.stdout)).to.include({success: true, current_schema_version: 27})
      expect(libraryContent(database)).to.deep.equal(original)
    })
  }

  it('vpo plugins:uninstall removes the commands and leaves the library and its backups untouched', async () => {
    const before = libraryState(dataDir)
    expect(Object.keys(before).filter((name) => name.startsWith('backups/')).length).to.be.greaterThan(0)
    const uninstall = record(await host.vpo(['plugins:uninstall', PACKAGE]))
    expect(uninstall.code, output(uninstall)).to.equal(0)
    expect(libraryState(dataDir)).to.deep.equal(before)

    const plugins = await host.vpo(['plugins'])
    expect(plugins.stdout).to.not.include(PACKAGE)
    const gone = await host.vpo(['library:backup'])
    expect(gone.code).to.not.equal(0)
    expect(output(gone)).to.include('not found')
    const help = await host.vpo(['--help'])
    expect(squash(help.stdout)).to.not.include('library ')
    expect(fs.existsSync(path.join(dataDir, 'node_modules', '@vpo', 'library-backup'))).to.equal(false)
    if (!bashCompletionMissing()) expect(await completeInBash(host, 'vpo library:b')).to.deep.equal([])
    expect(libraryState(dataDir)).to.deep.equal(before)
  })
})
