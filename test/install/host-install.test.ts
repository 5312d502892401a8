/**
 * The path users take, end to end: `npm publish` to a real registry (verdaccio on 127.0.0.1,
 * serving only the @vpo scope), `vpo plugins:install @vpo/library-backup` into a real oclif host
 * named `vpo`, the commands run through the host, completion in real bash and zsh, a host with a
 * space as topic separator, a host declaring another schema version, an oclif v5 host on Node 22,
 * and `vpo plugins:uninstall`.
 *
 * Slow by nature (npm installs, better-sqlite3 compiling twice); skip it with
 * VPO_SKIP_INSTALL_TEST=1, skip only the Node 22 host with VPO_INSTALL_TEST_NODE22=0, keep the
 * sandbox with VPO_INSTALL_KEEP=1, and write the user-facing transcript with
 * VPO_INSTALL_TRANSCRIPT=FILE.
 */
import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'

import {createLibrary, type LibrarySummary} from '../fixtures/library-generator.js'
import {ROOT} from '../helpers/cli.js'
import {gnuTarMetadata} from '../helpers/gnu-tar.js'
import {sha256File} from '../helpers/libraries.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'
import {
  baseEnv,
  bashCompletionMissing,
  completeInBash,
  completeInZsh,
  copyReleaseSource,
  expectSuccess,
  freePort,
  Host,
  HOST_V4_DEPENDENCIES,
  HOST_V5_DEPENDENCIES,
  npmInstall,
  type ProcResult,
  type Registry,
  run,
  startRegistry,
  statTree,
  VERDACCIO,
  writeNpmUserConfig,
  zshMissing,
} from './sandbox.js'

const PACKAGE = '@vpo/library-backup'
const HOST_VERSION = '4.2.0'
const HOST_V5_VERSION = '5.0.0'
const SKIP = process.env.VPO_SKIP_INSTALL_TEST === '1'
const WITH_NODE22 = process.env.VPO_INSTALL_TEST_NODE22 !== '0'

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
  if (fs.existsSync(backups)) for (const [name, hash] of Object.entries(hashTree(backups))) state[`backups/${name}`] = hash
  return state
}

/** `vpo library:b` offers both commands; after `--`, every flag of each command (from its manifest). */
async function verifyCompletion(complete: (host: Host, line: string) => Promise<string[]>, host: Host, commands: ManifestCommand[]) {
  expect(await complete(host, 'vpo library:b'), 'vpo library:b').to.include.members(['vpo library:backup', 'vpo library:backups'])
  for (const command of commands) {
    const line = `vpo ${command.id} --`
    const expected = Object.values(command.flags).map((flag) => `vpo ${command.id} --${flag.name}`)
    expect(await complete(host, line), line).to.include.members(expected)
  }
}

describe('install into a real vpo host (verdaccio, plugins:install, completion)', function () {
  this.timeout(20 * 60_000)

  const transcript: ProcResult[] = []
  const record = (result: ProcResult) => {
    transcript.push(result)
    return result
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
  let node22: Promise<{host: Host; install: ProcResult}> | undefined
  let firstBackup: string
  let distBeforePublish: boolean
  let distAfterPublish: boolean

  before(async function () {
    if (SKIP) {
      console.log('      skipped: VPO_SKIP_INSTALL_TEST=1')
      this.skip()
    }

    this.timeout(15 * 60_000)
    const started = Date.now()
    const step = (label: string) => console.log(`      [install suite] ${label} (${Math.round((Date.now() - started) / 1000)} s)`)
    work = makeTempDir('vpo-install')
    const env = baseEnv(work)
    const port = await freePort()
    const registryUrl = `http://127.0.0.1:${port}/`
    const npmrc = path.join(work, 'npmrc')
    const npm = writeNpmUserConfig(npmrc, {nodedir: path.resolve(path.dirname(process.execPath), '..'), registry: registryUrl}, env)

    dataDir = path.join(work, 'vpo-data')
    const hostOptions = {
      version: HOST_VERSION,
      dependencies: HOST_V4_DEPENDENCIES,
      node: process.execPath,
      dataDir,
      env: npm.env,
      schemaVersion: 27,
    }
    host = new Host({...hostOptions, dir: path.join(work, 'host'), topicSeparator: ':', configDir: path.join(work, 'config'), cacheDir: path.join(work, 'cache')})
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

    // Node 22 + oclif v5 host: its npm work overlaps with everything below.
    let prepared22: Promise<{host: Host; nodedir: string}> | undefined
    if (WITH_NODE22) {
      prepared22 = (async () => {
        const nodeDir = path.join(work, 'node22')
        await npmInstall(nodeDir, {name: 'node22', dependencies: {node: '22'}}, npm.env)
        const node = path.join(nodeDir, 'node_modules', 'node', 'bin', 'node')
        // The `node` package's platform package is the official tarball: bin/, include/node, share/.
        const platformDir = path.join(nodeDir, 'node_modules', 'node', 'node_modules')
        const platform = fs.readdirSync(platformDir).find((name) => fs.existsSync(path.join(platformDir, name, 'include', 'node', 'node.h')))
        if (!platform) throw new Error(`no Node 22 headers under ${platformDir}`)
        const nodedir = path.join(platformDir, platform)
        const npm22 = writeNpmUserConfig(path.join(work, 'npmrc-node22'), {nodedir, registry: registryUrl}, env)
        const host5 = new Host({
          dir: path.join(work, 'host-v5'),
          version: HOST_V5_VERSION,
          dependencies: HOST_V5_DEPENDENCIES,
          node,
          dataDir: path.join(work, 'vpo-data-v5'),
          configDir: path.join(work, 'config-v5'),
          cacheDir: path.join(work, 'cache-v5'),
          env: npm22.env,
          schemaVersion: 27,
          topicSeparator: ':',
        })
        await host5.create()
        return {host: host5, nodedir}
      })()
      prepared22.catch(() => {}) // awaited (and reported) below
    }

    const verdaccioDir = path.join(work, 'verdaccio')
    await Promise.all([
      npmInstall(verdaccioDir, {name: 'vpo-test-registry', dependencies: {verdaccio: VERDACCIO.version}, overrides: VERDACCIO.overrides}, npm.env),
      host.create(),
    ])
    await Promise.all([spaceHost.create(), schema26Host.create()])
    step('verdaccio and the host installed')

    registry = await startRegistry(path.join(work, 'registry'), verdaccioDir, port, env)
    writeNpmUserConfig(npmrc, {nodedir: path.resolve(path.dirname(process.execPath), '..'), registry: registryUrl, token: registry.token}, env)

    // Publish exactly as a release would, from a copy of the checkout (prepack builds there).
    const source = path.join(work, 'release-source')
    copyReleaseSource(ROOT, source)
    pkgVersion = (JSON.parse(fs.readFileSync(path.join(source, 'package.json'), 'utf8')) as {version: string}).version
    distBeforePublish = fs.existsSync(path.join(source, 'dist'))
    publish = record(expectSuccess(await run('npm', ['publish'], {cwd: source, env: npm.env, timeoutMs: 300_000})))
    distAfterPublish = fs.existsSync(path.join(source, 'dist', 'commands', 'library', 'backup.js'))
    step('published')

    if (prepared22) {
      node22 = prepared22.then(async ({host: host5, nodedir}) => {
        writeNpmUserConfig(path.join(work, 'npmrc-node22'), {nodedir, registry: registryUrl, token: registry!.token}, env)
        fs.mkdirSync(host5.options.dataDir, {recursive: true})
        createLibrary(path.join(host5.options.dataDir, 'library.db'), {files: 300, walFiles: 5})
        const installed = await host5.vpo(['plugins:install', PACKAGE], {timeoutMs: 900_000})
        step('Node 22 host: plugin installed')
        return {host: host5, install: installed}
      })
      node22.catch(() => {})
    }

    install = record(await host.vpo(['plugins:install', PACKAGE], {timeoutMs: 900_000}))
    step('plugin installed')
    expectSuccess(install)
    const manifestPath = path.join(dataDir, 'node_modules', '@vpo', 'library-backup', 'oclif.manifest.json')
    commands = Object.values((JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as {commands: Record<string, ManifestCommand>}).commands)
  })

  after(async function () {
    this.timeout(15 * 60_000)
    if (!work) return
    if (node22) await node22.catch(() => {})
    await registry?.stop()
    const file = process.env.VPO_INSTALL_TRANSCRIPT
    if (file) {
      const text = transcript.map((result) => `$ ${result.command}\n${result.stdout}${result.stderr}`).join('\n')
      fs.writeFileSync(file, text.replaceAll(work, '/tmp/vpo-install'))
    }

    if (process.env.VPO_INSTALL_KEEP === '1') console.log(`      sandbox kept: ${work}`)
    else cleanupTempDirs()
  })

  it('npm publish runs prepack and ships only what `files` names; the registry serves only @vpo', async () => {
    expect(distBeforePublish, 'the release copy starts without dist/').to.equal(false)
    expect(distAfterPublish, 'prepack built dist/').to.equal(true)
    const shipped = [...publish.stderr.matchAll(/npm notice [\d.]+k?B (\S+)/g)].map((match) => match[1])
    expect(shipped).to.include.members(['package.json', 'oclif.manifest.json', 'bin/run.js', 'dist/commands/library/backup.js', 'dist/commands/library/restore.js', 'dist/commands/library/backups.js'])
    expect(shipped.filter((file) => !/^(bin|dist)\/|^(package\.json|oclif\.manifest\.json|README\.md|LICENSE)$/.test(file))).to.deep.equal([])
    expect(output(publish)).to.include(`+ ${PACKAGE}@${pkgVersion}`)
    const served = (await fetch(`${registry!.url}@vpo%2flibrary-backup`).then(async (response) => response.json())) as {versions: Record<string, unknown>}
    expect(Object.keys(served.versions)).to.deep.equal([pkgVersion])
    // Everything else comes from the default registry: this one has no uplinks and no other scope.
    expect((await fetch(`${registry!.url}@oclif%2fcore`)).ok).to.equal(false)
  })

  it('vpo plugins:install installs it into VPO_DATA_DIR next to the library, and vpo plugins lists it', async () => {
    expect(output(install)).to.include(`installed v${pkgVersion}`)
    const userPlugins = JSON.parse(fs.readFileSync(path.join(dataDir, 'package.json'), 'utf8')) as {oclif: {plugins: Array<{name: string}>}}
    expect(userPlugins.oclif.plugins.map((plugin) => plugin.name)).to.include(PACKAGE)
    expect(libraryState(dataDir), 'installing must not touch the library').to.deep.equal(libraryBeforeInstall)
    const plugins = record(await host.vpo(['plugins']))
    expect(plugins.code).to.equal(0)
    expect(plugins.stdout).to.include(`${PACKAGE} ${pkgVersion}`)
    expect(commands.map((command) => command.id).sort()).to.deep.equal(['library:backup', 'library:backups', 'library:restore'])
  })

  it('vpo --help shows the library topic; vpo library --help shows the three commands with their summaries', async () => {
    const pjson = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {oclif: {topics: {library: {description: string}}}}
    const root = await host.vpo(['--help'])
    expect(root.code).to.equal(0)
    expect(squash(root.stdout)).to.include(`library ${pjson.oclif.topics.library.description}`)
    const topic = record(await host.vpo(['library', '--help']))
    expect(topic.code).to.equal(0)
    for (const command of commands) expect(squash(topic.stdout)).to.include(`${command.id} ${command.summary}`)
  })

  it('backs up, lists and dry-run restores through the host; vpo_version is the host version', async () => {
    const backup = record(await host.vpo(['library:backup']))
    expect(backup.code, output(backup)).to.equal(0)
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
    expect(listing.stdout).to.include(path.basename(firstBackup))
    expect(listing.stdout).to.include('Total: 1 backup')

    const before = libraryState(dataDir)
    const dryRun = record(await host.vpo(['library:restore', firstBackup, '--dry-run']))
    expect(dryRun.code, output(dryRun)).to.equal(0)
    expect(dryRun.stdout).to.match(new RegExp(String.raw`VPO version:\s+` + HOST_VERSION.replaceAll('.', String.raw`\.`)))
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
    expect(libraryState(dataDir)).to.deep.equal(before)
  })

  it('bash completion (Debian bash-completion): vpo library:b offers backup and backups; every flag after --', async function () {
    const missing = bashCompletionMissing()
    if (missing) {
      console.log(`      skipped: ${missing}`)
      this.skip()
    }

    await verifyCompletion(completeInBash, host, commands)
  })

  it('zsh completion: the same through compinit and a TAB in a pseudo-terminal', async function () {
    const missing = zshMissing()
    if (missing) {
      console.log(`      skipped: ${missing}`)
      this.skip()
    }

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
      const flags = await complete(spaceHost, 'vpo library backup --')
      expect(flags, `${name}: vpo library backup --`).to.include.members(['--json', '--output', '--dry-run', '--db', '--force', '--keep'].map((flag) => `vpo library backup ${flag}`))
    }

    if (skipped.length > 0) console.log(`      completion checks skipped: ${skipped.join('; ')}`)
    if (skipped.length === 2) this.skip()
  })

  it('shares VPO_DATA_DIR with the host: touches nothing but library.db*, backups/ and its temporary files', async () => {
    const ours = (relative: string) => relative.startsWith('library.db') || relative === 'backups' || relative.startsWith(`backups${path.sep}`)
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
    expect(topLevel.filter((name) => !/^library\.db(-wal|-shm)?$/.test(name) && name !== 'backups'), 'leftovers in the data directory').to.deep.equal([])
    expect(fs.readdirSync(path.join(dataDir, 'backups')).filter((name) => !/^vpo-library-.*\.tar\.gz$/.test(name)), 'leftovers in backups/').to.deep.equal([])
  })

  it('loads in an oclif v5 host on Node 22 (better-sqlite3 built for Node 22)', async function () {
    if (!node22) {
      console.log('      skipped: VPO_INSTALL_TEST_NODE22=0')
      this.skip()
    }

    const {host: host5, install: install5} = await node22!
    expect(install5.code, output(install5)).to.equal(0)
    const version = await host5.vpo(['--version'])
    expect(version.stdout).to.match(/^vpo\/5\.0\.0 .* node-v22\./)
    const core = JSON.parse(fs.readFileSync(path.join(host5.dir, 'node_modules', '@oclif', 'core', 'package.json'), 'utf8')) as {version: string}
    expect(core.version).to.match(/^5\./)
    const plugins = await host5.vpo(['plugins'])
    expect(plugins.stdout).to.include(`${PACKAGE} ${pkgVersion}`)
    const topic = await host5.vpo(['library', '--help'])
    for (const command of commands) expect(squash(topic.stdout)).to.include(`${command.id} ${command.summary}`)
    const backup = await host5.vpo(['library:backup', '--json'])
    expect(backup.code, output(backup)).to.equal(0)
    const {path: archive} = JSON.parse(backup.stdout) as {path: string}
    expect(gnuTarMetadata(archive).vpo_version).to.equal(HOST_V5_VERSION)
    const listing = await host5.vpo(['library:backups', '--json'])
    expect(JSON.parse(listing.stdout)).to.include({total_count: 1})
    const dryRun = await host5.vpo(['library:restore', archive, '--dry-run', '--json'])
    expect(dryRun.code, output(dryRun)).to.equal(0)
    expect(JSON.parse(dryRun.stdout)).to.include({current_schema_version: 27, vpo_version: HOST_V5_VERSION})
    if (!bashCompletionMissing()) expect(await completeInBash(host5, 'vpo library:b')).to.include.members(['vpo library:backup', 'vpo library:backups'])
  })

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
