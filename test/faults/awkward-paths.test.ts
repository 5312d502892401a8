/**
 * Awkward paths: data directories and --output paths with spaces, quotes, newlines and non-ASCII
 * characters; a data directory that is a symlink; a backups directory that is a symlink to another
 * filesystem (users point it at a NAS), where the temporary file must live on the destination's
 * filesystem so that the final rename (link) stays atomic.
 */
import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'

import {finishCli, parseJson, runCli, startCli} from '../helpers/cli.js'
import {isRoot, mountTmpfs, preloadHook, useMounts} from '../helpers/filesystems.js'
import {listArchives, listTemps, lockDirectory, TEMP_PREFIX} from '../helpers/leftovers.js'
import {type DataDir, libraryContent, makeDataDir} from '../helpers/libraries.js'
import {validateArchiveWithPython} from '../helpers/python-archives.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'
import {pollUntil} from '../helpers/waiting.js'

const AWKWARD = [`spaces, "double" and 'single' quotes`, `new\nline`, `Vidéos 日本語 ☃ $HOME \`ls\`; rm -rf`]

/**
 * Records every link and rename the CLI makes, with the device of each side's directory, so the
 * test can prove the final rename never crosses a filesystem.
 */
function renameLog(): {
  env: NodeJS.ProcessEnv
  read(): Array<{devFrom: number; devTo: number; from: string; op: string; to: string}>
} {
  const log = path.join(makeTempDir('vpo-renames'), 'renames.jsonl')
  const env = preloadHook(`
import fs from 'node:fs'
import path from 'node:path'
const log = ${JSON.stringify(log)}
const record = (op, from, to) => {
  const dev = (p) => { try { return fs.statSync(path.dirname(String(p))).dev } catch { return -1 } }
  fs.appendFileSync(log, JSON.stringify({op, from: String(from), to: String(to), devFrom: dev(from), devTo: dev(to)}) + '\\n')
}
for (const op of ['linkSync', 'renameSync']) {
  const original = fs[op]
  fs[op] = function (from, to) { record(op, from, to); return original.call(this, from, to) }
}
`)
  return {
    env,
    read: () =>
      fs.existsSync(log)
        ? fs
            .readFileSync(log, 'utf8')
            .trim()
            .split('\n')
            .map((line) => JSON.parse(line))
        : [],
  }
}

async function backupAndRestoreRoundTrip(lib: DataDir, extraBackupArgs: string[] = []): Promise<string> {
  const {digest} = libraryContent(lib.databasePath)
  const backup = await runCli(['library:backup', '--json', ...extraBackupArgs], {env: lib.env})
  expect(backup.code, backup.stdout + backup.stderr).to.equal(0)
  const archive = String(parseJson(backup).path)
  expect(fs.existsSync(archive), archive).to.equal(true)
  const check = validateArchiveWithPython(archive)
  expect(check.ok, check.reason).to.equal(true)

  const listing = await runCli(['library:backups', '--json', '--path', path.dirname(archive)], {env: lib.env})
  expect(listing.code, listing.stderr).to.equal(0)
  const listed = (parseJson(listing).backups as Array<{path: string; readable: boolean}>).find(
    (b) => b.path === archive,
  )
  expect(listed, `listing shows ${JSON.stringify(archive)}`).to.not.equal(undefined)
  expect(listed!.readable).to.equal(true)

  const dry = await runCli(['library:restore', archive, '--dry-run', '--json'], {env: lib.env})
  expect(dry.code, dry.stdout + dry.stderr).to.equal(0)
  const restore = await runCli(['library:restore', archive, '--yes', '--json'], {env: lib.env})
  expect(restore.code, restore.stdout + restore.stderr).to.equal(0)
  expect(parseJson(restore).source_path).to.equal(archive)
  expect(libraryContent(lib.databasePath).digest).to.equal(digest)
  expect(fs.existsSync(lockDirectory(lib.databasePath))).to.equal(false)
  expect([...listTemps(lib.dataDir), ...listTemps(lib.backupDir), ...listTemps(path.dirname(archive))]).to.deep.equal(
    [],
  )
  return archive
}

describe('faults: awkward paths', function () {
  this.timeout(120_000)

  const mounts = useMounts()

  after(() => cleanupTempDirs())

  for (const name of AWKWARD) {
    it(`data directory and --output named ${JSON.stringify(name)}`, async () => {
      const parent = path.join(makeTempDir('vpo-awkward'), name)
      const lib = makeDataDir({files: 300, walFiles: 5}, parent)
      await backupAndRestoreRoundTrip(lib)
      const outDir = path.join(makeTempDir('vpo-awkward-out'), name)
      fs.mkdirSync(outDir)
      // Named so that library:backups lists it too (it lists any vpo-library-*.tar.gz).
      const archive = await backupAndRestoreRoundTrip(lib, [
        '--output',
        path.join(outDir, `vpo-library-${name}.tar.gz`),
      ])
      expect(path.basename(archive)).to.equal(`vpo-library-${name}.tar.gz`)
    })
  }

  it('a data directory that is a symlink: same library, same lock, backups inside the real directory', async () => {
    const lib = makeDataDir({files: 300, walFiles: 5})
    const link = path.join(makeTempDir('vpo-link'), 'data link ☃')
    fs.symlinkSync(lib.dataDir, link)
    const viaLink: DataDir = {
      ...lib,
      dataDir: link,
      databasePath: path.join(link, 'library.db'),
      backupDir: path.join(link, 'backups'),
      env: {VPO_DATA_DIR: link},
    }
    await backupAndRestoreRoundTrip(viaLink)
    expect(fs.lstatSync(link).isSymbolicLink(), 'the symlink is still a symlink').to.equal(true)
    expect(listArchives(lib.backupDir).length).to.be.greaterThan(0)

    // The lock taken through one route is the lock seen through the other.
    const child = startCli(['library:backup', '--json'], {env: lib.env})
    const done = finishCli(child)
    const locked = await pollUntil(() => fs.existsSync(lockDirectory(lib.databasePath)), 10_000, 1)
    const second = locked ? await runCli(['library:backup', '--json'], {env: viaLink.env}) : undefined
    const first = await done
    expect(first.code, first.stderr).to.equal(0)
    if (second && second.code !== 0) expect(second.code, second.stdout).to.equal(4)
  })

  describe('a backups directory that is a symlink to another filesystem (a NAS)', () => {
    let nas: string

    before(function () {
      if (!isRoot()) {
        console.log('      skipped: needs root to mount a tmpfs standing in for the NAS')
        this.skip()
      }

      nas = path.join(makeTempDir('vpo-nas'), 'nas share')
      if (!mountTmpfs(nas, '64m')) {
        console.log('      skipped: mount -t tmpfs failed')
        this.skip()
      }

      mounts.push(nas)
    })

    it('backup and the safety backup write their temporary files on the NAS and link them into place there', async () => {
      const lib = makeDataDir({files: 1500, walFiles: 25})
      const target = path.join(nas, 'vpo backups')
      fs.mkdirSync(target, {mode: 0o700})
      fs.symlinkSync(target, lib.backupDir)
      const nasDev = fs.statSync(nas).dev
      expect(nasDev).to.not.equal(fs.statSync(lib.dataDir).dev)

      const renames = renameLog()
      const backup = await runCli(['library:backup', '--json'], {env: {...lib.env, ...renames.env}})
      expect(backup.code, backup.stdout + backup.stderr).to.equal(0)
      const archive = String(parseJson(backup).path)
      expect(fs.statSync(archive).dev, 'the archive is on the NAS').to.equal(nasDev)
      expect(validateArchiveWithPython(archive).ok).to.equal(true)

      const other = makeDataDir({files: 500, walFiles: 5, seed: 9})
      const made = await runCli(['library:backup', '--json', '--output', makeTempDir('vpo-archive')], {env: other.env})
      const restore = await runCli(['library:restore', String(parseJson(made).path), '--yes', '--json'], {
        env: {...lib.env, ...renames.env},
      })
      expect(restore.code, restore.stdout + restore.stderr).to.equal(0)
      const safety = String(parseJson(restore).safety_backup_path)
      expect(fs.statSync(safety).dev, 'the safety backup is on the NAS').to.equal(nasDev)

      const published = renames.read().filter((r) => /vpo-library-.*\.tar\.gz$/.test(r.to))
      expect(published.length, JSON.stringify(renames.read())).to.be.greaterThanOrEqual(2)
      for (const op of published) {
        expect(op.devFrom, `${op.op} ${op.from} -> ${op.to} crosses filesystems`).to.equal(op.devTo)
        expect(op.devTo).to.equal(nasDev)
        expect(path.basename(op.from).startsWith(TEMP_PREFIX), op.from).to.equal(true)
      }

      expect(listTemps(target)).to.deep.equal([])
      expect(listTemps(lib.dataDir)).to.deep.equal([])
    })

    it('a backup killed mid-archive leaves its archive temp on the NAS and its snapshot beside the library; the next backup removes both', async () => {
      const lib = makeDataDir({files: 15_000, walFiles: 5})
      const target = path.join(nas, 'killed run')
      fs.mkdirSync(target, {mode: 0o700})
      fs.symlinkSync(target, lib.backupDir)
      const child = startCli(['library:backup', '--json'], {env: lib.env})
      const done = finishCli(child)
      const archiveTempAppeared = () => listTemps(target).some((n) => n.endsWith('.tar.gz'))
      const appeared = await pollUntil(archiveTempAppeared, 30_000, 1)
      child.kill('SIGKILL')
      await done
      expect(appeared, 'the archive temp appeared on the NAS').to.equal(true)
      expect(
        listTemps(lib.dataDir).every((name) => /\.snapshot\.db(-\w+)?$/.test(name)),
        'only the snapshot on the local disk',
      ).to.equal(true)
      const lock = lockDirectory(lib.databasePath)
      if (fs.existsSync(lock)) fs.utimesSync(lock, new Date(Date.now() - 20_000), new Date(Date.now() - 20_000))
      const next = await runCli(['library:backup', '--json'], {env: lib.env})
      expect(next.code, next.stdout + next.stderr).to.equal(0)
      expect(listTemps(target)).to.deep.equal([])
      expect(listTemps(lib.dataDir)).to.deep.equal([])
    })

    it('--output straight onto the NAS: the temporary file is beside the output', async () => {
      const lib = makeDataDir({files: 800, walFiles: 5})
      const renames = renameLog()
      const output = path.join(nas, `library "nightly" ☃.tar.gz`)
      const backup = await runCli(['library:backup', '--json', '--output', output], {env: {...lib.env, ...renames.env}})
      expect(backup.code, backup.stdout + backup.stderr).to.equal(0)
      expect(parseJson(backup).path).to.equal(output)
      const published = renames.read().filter((r) => r.to === output)
      expect(published).to.have.length(1)
      expect(path.dirname(published[0].from)).to.equal(nas)
      expect(validateArchiveWithPython(output).ok).to.equal(true)
    })
  })
})
