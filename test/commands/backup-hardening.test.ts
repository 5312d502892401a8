import {expect} from 'chai'
/**
 * Issue 10, library:backup: the paths to losing the library or its last good backup, and the
 * messages that blamed the wrong thing. Real `bin/run.js` processes, real files, SQLite and tar.
 */
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import {seededRandom} from '../fixtures/library-generator.js'
import {useArchivedLibrary} from '../helpers/archived-libraries.js'
import {cleanEnv, parseJson, RUN, runCli} from '../helpers/cli.js'
import {expectHumanError, expectJsonError, runCliChecked} from '../helpers/expectations.js'
import {isRoot, mountTmpfs, unmount, useMounts} from '../helpers/filesystems.js'
import {
  damageAnIndex,
  exactTotal,
  plantBackup,
  pythonMetadataInteger,
  rawJsonInteger,
  setSizes,
  watchSnapshots,
} from '../helpers/hardening.js'
import {listArchives, lockDirectory} from '../helpers/leftovers.js'
import {archiveOf, type DataDir, makeDataDir, sha256File, treeState} from '../helpers/libraries.js'
import {readArchiveWithPython, validateArchiveWithPython, writeArchiveWithPython} from '../helpers/python-archives.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

/** The library's own bytes and everything beside it: what an --output aimed at it must not change. */
function libraryState(lib: DataDir): Record<string, string> {
  return treeState(lib.dataDir)
}

function backupJson(args: string[], lib: DataDir, cwd?: string) {
  return runCliChecked(['library:backup', '--json', ...args], lib.env, cwd ? {cwd} : {})
}

describe('library:backup hardening (issue 10)', function () {
  this.timeout(120_000)

  after(() => cleanupTempDirs())

  describe('1. no --output may name the library, its sidecars or its lock', () => {
    let lib: DataDir
    let elsewhere: string

    before(() => {
      lib = makeDataDir({files: 200, walFiles: 10})
      elsewhere = makeTempDir('vpo-elsewhere')
      fs.symlinkSync(lib.databasePath, path.join(elsewhere, 'link-to-library.db'))
      fs.symlinkSync(`${lib.databasePath}-wal`, path.join(elsewhere, 'link-to-wal'))
      fs.linkSync(lib.databasePath, path.join(elsewhere, 'hard-link.db'))
    })

    const spellings: Array<{label: string; output: (lib: DataDir, elsewhere: string) => string; relative?: boolean}> = [
      {label: 'library.db, relative to the data directory', output: () => 'library.db', relative: true},
      {label: 'library.db-wal, relative', output: () => 'library.db-wal', relative: true},
      {label: 'library.db-shm (absent now), relative', output: () => 'library.db-shm', relative: true},
      {label: 'library.db-journal (absent now), relative', output: () => 'library.db-journal', relative: true},
      {label: 'the lock library.db.lock (absent now), relative', output: () => 'library.db.lock', relative: true},
      {label: '../vpo/library.db', output: () => '../vpo/library.db', relative: true},
      {label: './/library.db-wal', output: () => './/library.db-wal', relative: true},
      {label: 'a symlink to library.db', output: (_, e) => path.join(e, 'link-to-library.db')},
      {label: 'a symlink to library.db-wal', output: (_, e) => path.join(e, 'link-to-wal')},
      {label: 'a hard link to library.db', output: (_, e) => path.join(e, 'hard-link.db')},
      {label: 'the absolute path of library.db', output: (l) => l.databasePath},
    ]

    for (const spelling of spellings) {
      for (const force of [false, true]) {
        it(`${spelling.label}${force ? ' with --force' : ''}: exit 1 OUTPUT_IS_LIBRARY, nothing changed or created`, async () => {
          const before = libraryState(lib)
          const beforeElsewhere = treeState(elsewhere)
          const output = spelling.output(lib, elsewhere)
          const result = await backupJson(
            ['--output', output, ...(force ? ['--force'] : [])],
            lib,
            spelling.relative ? lib.dataDir : undefined,
          )
          expectJsonError(result, 'OUTPUT_IS_LIBRARY', 1)
          expect(libraryState(lib)).to.deep.equal(before)
          expect(treeState(elsewhere)).to.deep.equal(beforeElsewhere)
        })
      }
    }

    it('the lock directory while another holder has it, with --force', async () => {
      fs.mkdirSync(lockDirectory(lib.databasePath))
      try {
        const before = libraryState(lib)
        const result = await backupJson(['--output', 'library.db.lock', '--force'], lib, lib.dataDir)
        expectJsonError(result, 'OUTPUT_IS_LIBRARY', 1)
        expect(libraryState(lib)).to.deep.equal(before)
      } finally {
        fs.rmdirSync(lockDirectory(lib.databasePath))
      }
    })

    it('a human run says which library file it refused', async () => {
      const line = expectHumanError(
        await runCliChecked(['library:backup', '-o', 'library.db', '--force'], lib.env, {cwd: lib.dataDir}),
        1,
      )
      expect(line)
        .to.include(lib.databasePath)
        .and.match(/never replace/)
    })
  })

  describe('2. the integrity gate', () => {
    let lib: DataDir
    let good: string[]

    before(async () => {
      lib = makeDataDir({files: 300, walFiles: 10})
      good = []
      for (let i = 0; i < 2; i++) good.push(String(parseJson(await backupJson([], lib)).path))
      damageAnIndex(lib.databasePath)
    })

    it('--keep 1 on a library that fails quick_check: exit 7, no archive, nothing pruned, names the newest good backup', async () => {
      const before = treeState(lib.backupDir)
      const result = await backupJson(['--keep', '1'], lib)
      const text = expectJsonError(result, 'LIBRARY_DAMAGED', 7)
      expect(text).to.include(good[1]).and.include('--allow-damaged')
      expect(treeState(lib.backupDir)).to.deep.equal(before)
    })

    it('a human run says the same in one line', async () => {
      const line = expectHumanError(await runCliChecked(['library:backup', '--keep', '1'], lib.env), 7)
      expect(line).to.include('quick_check').and.include(good[1])
    })

    it('--allow-damaged --keep 1: exit 0, a …-damaged archive, damaged: true, nothing pruned', async () => {
      const result = await backupJson(['--allow-damaged', '--keep', '1'], lib)
      expect(result.code, result.stderr).to.equal(0)
      const body = parseJson(result)
      expect(body.damaged).to.equal(true)
      expect(String(body.path)).to.match(/vpo-library-\d{4}-\d{2}-\d{2}T\d{6}Z-damaged\.tar\.gz$/)
      expect(body.pruned).to.deep.equal([])
      for (const file of good) expect(fs.existsSync(file), file).to.equal(true)
      expect(listArchives(lib.backupDir)).to.have.lengthOf(3)
    })
  })

  describe('3 and 5. --keep counts regular backups only, newest by the name counter within a second', () => {
    /** A small library and an archive of it, the template of every backup these tests plant. */
    const lib = useArchivedLibrary({files: 100, walFiles: 5})

    for (const custom of ['weekly.tar.gz', 'vpo-library-weekly.tar.gz']) {
      it(`-o backups/${custom} --keep 1: keeps the custom archive and exactly the newest regular one`, async () => {
        const dir = lib.backupDir
        fs.rmSync(dir, {recursive: true, force: true})
        for (const day of ['01', '02', '03']) plantBackup(lib.archive, dir, `vpo-library-2024-01-${day}T000000Z.tar.gz`)
        const result = await backupJson(['-o', `backups/${custom}`, '--keep', '1'], lib, lib.dataDir)
        expect(result.code, result.stderr).to.equal(0)
        expect(fs.readdirSync(dir).sort()).to.deep.equal(['vpo-library-2024-01-03T000000Z.tar.gz', custom].sort())
        expect((parseJson(result).pruned as string[]).map((file) => path.basename(file)).sort()).to.deep.equal([
          'vpo-library-2024-01-01T000000Z.tar.gz',
          'vpo-library-2024-01-02T000000Z.tar.gz',
        ])
      })
    }

    it('…Z.tar.gz and …Z-2.tar.gz of one second: --keep 2 keeps -2 (made later) and removes the plain one', async () => {
      const dir = path.join(makeTempDir('vpo-same-second'), 'backups')
      const plain = plantBackup(lib.archive, dir, 'vpo-library-2024-02-01T120000Z.tar.gz')
      const second = plantBackup(lib.archive, dir, 'vpo-library-2024-02-01T120000Z-2.tar.gz')
      // Neither the file times nor the listing order may decide: make the plain one look newer.
      fs.utimesSync(second, new Date('2024-02-01T12:00:00Z'), new Date('2024-02-01T12:00:00Z'))
      const result = await backupJson(['-o', `${dir}/`, '--keep', '2'], lib)
      expect(result.code, result.stderr).to.equal(0)
      expect(fs.existsSync(second), 'the -2 backup').to.equal(true)
      expect(fs.existsSync(plain), 'the plain backup').to.equal(false)
      expect(parseJson(result).pruned).to.deep.equal([plain])
    })
  })

  describe('4. non-regular entries and a prune that fails half-way', () => {
    const lib = useArchivedLibrary({files: 100, walFiles: 5})

    it('a directory named like a backup is never a candidate, never deleted, never listed', async () => {
      const dir = lib.backupDir
      const impostor = path.join(dir, 'vpo-library-2020-01-01T000000Z.tar.gz')
      fs.mkdirSync(impostor, {recursive: true})
      fs.writeFileSync(path.join(impostor, 'keep-me'), 'precious')
      plantBackup(lib.archive, dir, 'vpo-library-2024-01-01T000000Z.tar.gz')
      const result = await backupJson(['--keep', '1'], lib)
      expect(result.code, result.stderr).to.equal(0)
      expect(fs.readFileSync(path.join(impostor, 'keep-me'), 'utf8')).to.equal('precious')
      expect(parseJson(result).pruned).to.deep.equal([path.join(dir, 'vpo-library-2024-01-01T000000Z.tar.gz')])
      const listing = parseJson(await runCliChecked(['library:backups', '--json'], lib.env))
      const names = (listing.backups as Array<{filename: string}>).map((entry) => entry.filename)
      expect(names).to.not.include('vpo-library-2020-01-01T000000Z.tar.gz')
      expect(names).to.have.lengthOf(1)
    })

    it('a backup that cannot be removed: exit 1 PRUNE_FAILED saying what was created, removed and not', async function () {
      if (!isRoot()) this.skip() // a bind mount over one backup makes its unlink fail (EBUSY)
      const dir = path.join(makeTempDir('vpo-prune-fail'), 'backups')
      const planted = ['01', '02', '03'].map((day) =>
        plantBackup(lib.archive, dir, `vpo-library-2024-03-${day}T000000Z.tar.gz`),
      )
      const stuck = planted[1]
      const copy = path.join(makeTempDir('vpo-bind'), 'copy')
      fs.copyFileSync(stuck, copy)
      const bound = spawnSync('mount', ['--bind', copy, stuck], {encoding: 'utf8'})
      if (bound.status !== 0) {
        console.log(`      (skipped: mount --bind failed: ${bound.stderr.trim()})`)
        this.skip()
      }

      try {
        const result = await backupJson(['-o', `${dir}/`, '--keep', '1'], lib)
        const text = expectJsonError(result, 'PRUNE_FAILED', 1)
        const created = listArchives(dir)
          .map((name) => path.join(dir, name))
          .filter((file) => !planted.includes(file))
        expect(created, 'the new backup is there').to.have.lengthOf(1)
        expect(text).to.include(`${created[0]} was created`)
        expect(text).to.include(`removing ${stuck} failed`)
        expect(fs.existsSync(stuck)).to.equal(true)
        for (const file of [planted[0], planted[2]]) {
          // What the message says was removed is gone; what it does not name is still there.
          expect(fs.existsSync(file), file).to.equal(!text.includes(`${file}`) || text.includes(`removing ${file}`))
        }

        expect(text).to.not.match(/nothing was changed/i)
      } finally {
        unmount(stuck)
      }
    })
  })

  describe('8. totals past 2^53 are exact, and every archive written restores', () => {
    const BIG = [2n ** 62n, 2n ** 53n + 1n, 2n ** 53n - 1n, 0n]

    it('backup --json, the archive metadata and restore --dry-run agree on the exact total', async () => {
      const lib = makeDataDir({files: 40, walFiles: 0})
      setSizes(lib.databasePath, BIG)
      const exact = exactTotal(lib.databasePath)
      expect(BigInt(exact) > 2n ** 53n).to.equal(true)
      const result = await backupJson([], lib)
      expect(result.code, result.stderr).to.equal(0)
      expect(rawJsonInteger(result.stdout, 'total_library_size_bytes')).to.equal(exact)
      const archive = String(parseJson(result).path)
      expect(pythonMetadataInteger(archive, 'total_library_size_bytes')).to.equal(exact)
      expect(validateArchiveWithPython(archive).ok).to.equal(true)
      const dry = await runCliChecked(['library:restore', archive, '--dry-run', '--json'], makeDataDir({files: 1}).env)
      expect(dry.code, dry.stdout + dry.stderr).to.equal(0)
      const listing = await runCliChecked(['library:backups', '--json'], lib.env)
      expect(rawJsonInteger(listing.stdout, 'database_size_bytes')).to.match(/^\d+$/)
    })

    it("an archive written by Python's tarfile with such a total is accepted", async () => {
      const lib = makeDataDir({files: 40, walFiles: 0})
      const template = (await archiveOf(lib)).path
      const database = path.join(makeTempDir('vpo-db'), 'library.db')
      fs.copyFileSync(lib.databasePath, database)
      const metadata = {...readArchiveWithPython(template).metadata, total_library_size_bytes: '__TOTAL__'}
      delete (metadata as Record<string, unknown>).database_sha256
      const total = String(2n ** 62n + 12_345n)
      const archive = path.join(makeTempDir('vpo-py'), 'python.tar.gz')
      writeArchiveWithPython(archive, [
        {name: 'library.db', source: database, added: true},
        {name: 'backup_metadata.json', text: JSON.stringify(metadata, null, 2).replace('"__TOTAL__"', total)},
      ])
      expect(pythonMetadataInteger(archive, 'total_library_size_bytes')).to.equal(total)
      const dry = await runCliChecked(['library:restore', archive, '--dry-run', '--json'], makeDataDir({files: 1}).env)
      expect(dry.code, dry.stdout + dry.stderr).to.equal(0)
      const listing = await runCliChecked(['library:backups', '--json', '--path', path.dirname(archive)], lib.env)
      expect(parseJson(listing).total_count).to.equal(0) // not a backup name: listing is by name
    })

    it('property: every archive library:backup writes passes restore --dry-run and Python’s validator', async function () {
      this.timeout(600_000)
      const seed = Number(process.env.VPO_PROPERTY_SEED ?? Date.now() % 1_000_000)
      console.log(`      property seed: ${seed} (VPO_PROPERTY_SEED=${seed} to replay)`)
      const rand = seededRandom(seed)
      const extremes = [0n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 62n, 1n]
      const target = makeDataDir({files: 1}).env
      for (let round = 0; round < 12; round++) {
        const files = [0, 1, 3000][round % 3] === 3000 ? Math.floor(rand() * 3000) : [0, 1][round % 3]
        const withWal = rand() < 0.5 && files > 0
        const lib = makeDataDir({files, walFiles: 0, seed: Math.floor(rand() * 1e9)})
        if (files > 0) {
          // One 2^62 at most: SQLite's SUM stops at 2^63.
          const picks = Array.from(
            {length: Math.min(files, 1 + Math.floor(rand() * 5))},
            () => extremes[Math.floor(rand() * extremes.length)],
          )
          let seen62 = false
          setSizes(
            lib.databasePath,
            picks.map((v) => (v === 2n ** 62n ? (seen62 ? 7n : ((seen62 = true), v)) : v)),
          )
          renameToUnicode(lib.databasePath, Math.floor(rand() * 1e9), withWal)
        }

        const label = `seed ${seed} round ${round} (${files} files${withWal ? ', WAL' : ''})`
        if (withWal)
          expect(fs.statSync(`${lib.databasePath}-wal`).size, `${label}: commits left in the WAL`).to.be.above(0)
        const made = await backupJson([], lib)
        expect(made.code, `${label}: ${made.stderr}${made.stdout}`).to.equal(0)
        expect(rawJsonInteger(made.stdout, 'total_library_size_bytes'), label).to.equal(exactTotal(lib.databasePath))
        const archive = String(parseJson(made).path)
        const check = validateArchiveWithPython(archive)
        expect(check.ok, `${label}: ${check.reason}`).to.equal(true)
        const dry = await runCliChecked(['library:restore', archive, '--dry-run', '--json'], target)
        expect(dry.code, `${label}: ${dry.stdout}`).to.equal(0)
      }
    })
  })

  describe('11. space is asked of each filesystem for what it will hold', () => {
    const mounts = useMounts()

    it('a destination with room for ~0.9× the database but not 2× gets the backup (the snapshot stays beside the library)', async function () {
      if (!isRoot()) this.skip()
      const lib = makeDataDir({files: 3000, walFiles: 0})
      const {size} = fs.statSync(lib.databasePath)
      const dest = path.join(makeTempDir('vpo-small-dest'), 'mnt')
      if (!mountTmpfs(dest, `${Math.floor((size * 0.9) / 1024)}k`)) this.skip()
      mounts.push(dest)
      const result = await backupJson(['-o', `${dest}/`], lib)
      expect(result.code, result.stdout).to.equal(0)
      expect(listArchives(dest)).to.have.lengthOf(1)
    })

    it('a library on a filesystem too small for its snapshot is refused up front with exit 5 naming it', async function () {
      if (!isRoot()) this.skip()
      const source = makeDataDir({files: 3000, walFiles: 0})
      const {size} = fs.statSync(source.databasePath)
      const mnt = path.join(makeTempDir('vpo-small-lib'), 'mnt')
      if (!mountTmpfs(mnt, `${Math.ceil((size * 1.3) / 1024)}k`)) this.skip()
      mounts.push(mnt)
      const dataDir = path.join(mnt, 'vpo')
      fs.mkdirSync(dataDir)
      fs.copyFileSync(source.databasePath, path.join(dataDir, 'library.db'))
      const out = makeTempDir('vpo-big-dest')
      const before = sha256File(path.join(dataDir, 'library.db'))
      const result = await runCliChecked(['library:backup', '--json', '-o', `${out}/`], {VPO_DATA_DIR: dataDir})
      const text = expectJsonError(result, 'INSUFFICIENT_SPACE', 5)
      expect(text).to.include(dataDir)
      expect(sha256File(path.join(dataDir, 'library.db'))).to.equal(before)
      // SQLite's own -wal/-shm (any reader of a WAL library makes them) and nothing else.
      expect(fs.readdirSync(dataDir).filter((name) => !/^library\.db(-wal|-shm)?$/.test(name))).to.deep.equal([])
      expect(fs.readdirSync(out)).to.deep.equal([])
    })
  })

  describe('13. messages name the real cause', () => {
    const mounts = useMounts()

    it('a read-only backup directory: says it is read-only, not a SQLite failure', async function () {
      if (!isRoot()) this.skip()
      const lib = makeDataDir({files: 100, walFiles: 5})
      fs.mkdirSync(lib.backupDir)
      if (!mountTmpfs(lib.backupDir, '4m')) this.skip()
      mounts.push(lib.backupDir)
      spawnSync('mount', ['-o', 'remount,ro', lib.backupDir])
      const watch = watchSnapshots()
      const text = expectJsonError(
        await runCliChecked(['library:backup', '--json'], {...lib.env, ...watch.env}),
        undefined,
        1,
      )
      expect(text)
        .to.match(/read-only/i)
        .and.include(lib.backupDir)
      expect(text).to.not.match(/sqlite|snapshot/i)
      expect(watch.started(), 'refused before taking a snapshot').to.deep.equal([])
    })

    it('an unwritable backup directory (as another user): says permission is denied there', async function () {
      const lib = makeDataDir({files: 100, walFiles: 5})
      fs.mkdirSync(lib.backupDir, {mode: 0o555})
      fs.chmodSync(lib.backupDir, 0o555)
      let prefix: string[] = []
      if (isRoot()) {
        if (spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'true']).status !== 0) this.skip()
        // nobody must be able to read the library and walk to it, but not write the backups.
        for (let dir = lib.dataDir; dir !== path.dirname(dir); dir = path.dirname(dir))
          fs.chmodSync(dir, fs.statSync(dir).mode | 0o755)
        fs.chmodSync(lib.dataDir, 0o777)
        for (const file of fs.readdirSync(lib.dataDir))
          if (file !== 'backups') fs.chmodSync(path.join(lib.dataDir, file), 0o666)
        prefix = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']
      }

      const watch = watchSnapshots()
      const run = spawnSync(
        prefix[0] ?? process.execPath,
        [...prefix.slice(1), ...(prefix.length > 0 ? [process.execPath] : []), RUN, 'library:backup', '--json'],
        {
          encoding: 'utf8',
          env: {...cleanEnv(), VPO_DATA_DIR: lib.dataDir, ...watch.env},
          cwd: '/',
        },
      )
      const text = expectJsonError(
        {code: run.status, signal: null, stdout: run.stdout, stderr: run.stderr},
        undefined,
        1,
      )
      expect(text)
        .to.match(/permission|not writable|cannot write/i)
        .and.include(lib.backupDir)
      expect(text).to.not.match(/sqlite|snapshot/i)
      expect(fs.readdirSync(lib.backupDir)).to.deep.equal([])
      expect(watch.started(), 'refused before taking a snapshot').to.deep.equal([])
    })

    it('-o library.db/x.tar.gz: NOT_A_DIRECTORY naming the parent', async () => {
      const lib = makeDataDir({files: 50, walFiles: 5})
      const before = treeState(lib.dataDir)
      const text = expectJsonError(
        await backupJson(['-o', 'library.db/x.tar.gz'], lib, lib.dataDir),
        'NOT_A_DIRECTORY',
        1,
      )
      expect(text).to.include(`${lib.databasePath} is not a directory`)
      expect(treeState(lib.dataDir)).to.deep.equal(before)
    })

    it('-o library.db/sub/ (a directory under a file): NOT_A_DIRECTORY, nothing created', async () => {
      const lib = makeDataDir({files: 50, walFiles: 5})
      const before = treeState(lib.dataDir)
      const text = expectJsonError(await backupJson(['-o', 'library.db/sub/'], lib, lib.dataDir), 'NOT_A_DIRECTORY', 1)
      expect(text).to.include(`${lib.databasePath} is not a directory`)
      expect(treeState(lib.dataDir)).to.deep.equal(before)
    })

    it('a backups symlink to a missing place (an unmounted NAS): says the link points nowhere', async () => {
      const lib = makeDataDir({files: 50, walFiles: 5})
      const nas = path.join(makeTempDir('vpo-nas'), 'mnt', 'nas', 'vpo')
      fs.symlinkSync(nas, lib.backupDir)
      const text = expectJsonError(await backupJson([], lib), undefined, 1)
      expect(text).to.include(nas)
      expect(text).to.match(/link|missing|does not exist|not mounted/i)
      expect(fs.existsSync(nas), 'nothing created at the link target').to.equal(false)
    })

    it('a library on a read-only filesystem, WAL included, backs up to --output elsewhere', async function () {
      if (!isRoot()) this.skip()
      const source = makeDataDir({files: 300, walFiles: 20})
      const mnt = path.join(makeTempDir('vpo-ro-lib'), 'mnt')
      if (!mountTmpfs(mnt, '16m')) this.skip()
      mounts.push(mnt)
      const dataDir = path.join(mnt, 'vpo')
      fs.mkdirSync(dataDir)
      fs.copyFileSync(source.databasePath, path.join(dataDir, 'library.db'))
      fs.copyFileSync(`${source.databasePath}-wal`, path.join(dataDir, 'library.db-wal'))
      expect(spawnSync('mount', ['-o', 'remount,ro', mnt]).status).to.equal(0)
      const out = makeTempDir('vpo-ro-out')
      const watch = watchSnapshots()
      const result = await runCliChecked(['library:backup', '--json', '-o', `${out}/`], {
        VPO_DATA_DIR: dataDir,
        ...watch.env,
      })
      expect(result.code, result.stdout + result.stderr).to.equal(0)
      // The snapshot goes to the destination's staging, as the library's directory cannot take it.
      expect(watch.started().map((file) => path.dirname(file))).to.deep.equal([out])
      const body = parseJson(result)
      expect(body.file_count).to.equal(source.summary.fileCount) // the WAL's commits are in it
      expect(validateArchiveWithPython(String(body.path)).rows).to.equal(source.summary.fileCount)
    })
  })

  describe('14. --json usage errors keep the reason', () => {
    it('--keep 0: the message says why, with a hint', async () => {
      const lib = makeDataDir({files: 10, walFiles: 0})
      const result = await backupJson(['--keep', '0'], lib)
      const body = parseJson(result).error as {hint?: string; message: string}
      expectJsonError(result, 'USAGE_ERROR', 2)
      expect(body.message).to.include('--keep').and.include('greater than or equal to 1')
      expect(body.hint).to.be.a('string')
    })

    it('an unknown flag: the message names it, with a hint', async () => {
      const lib = makeDataDir({files: 10, walFiles: 0})
      const result = await backupJson(['--frobnicate'], lib)
      const body = parseJson(result).error as {hint?: string; message: string}
      expectJsonError(result, 'USAGE_ERROR', 2)
      expect(body.message).to.include('--frobnicate')
      expect(body.hint).to.be.a('string')
      expect(fs.existsSync(lib.backupDir)).to.equal(false)
    })
  })

  describe('15. -o newdir/ and -o -', () => {
    it('-o newdir/ (missing) creates the directory and writes the timestamped archive inside', async () => {
      const lib = makeDataDir({files: 50, walFiles: 5})
      const cwd = makeTempDir('vpo-cwd')
      const result = await backupJson(['-o', 'newdir/'], lib, cwd)
      expect(result.code, result.stdout).to.equal(0)
      expect(fs.statSync(path.join(cwd, 'newdir')).isDirectory()).to.equal(true)
      expect(listArchives(path.join(cwd, 'newdir'))).to.have.lengthOf(1)
      expect(String(parseJson(result).path)).to.equal(
        path.join(cwd, 'newdir', listArchives(path.join(cwd, 'newdir'))[0]),
      )
    })

    it('-o - is refused (exit 2 USAGE_ERROR), says why, and writes nothing', async () => {
      const lib = makeDataDir({files: 50, walFiles: 5})
      const cwd = makeTempDir('vpo-cwd')
      const before = treeState(lib.dataDir)
      const text = expectJsonError(await backupJson(['-o', '-'], lib, cwd), 'USAGE_ERROR', 2)
      expect(text).to.match(/standard output/)
      expect(fs.readdirSync(cwd)).to.deep.equal([])
      expect(treeState(lib.dataDir)).to.deep.equal(before)
      const line = expectHumanError(await runCliChecked(['library:backup', '-o', '-'], lib.env, {cwd}), 2)
      expect(line).to.match(/standard output/)
    })
  })

  describe('h. -h works like --help on every command', () => {
    for (const command of ['library:backup', 'library:backups', 'library:restore', 'library:verify', 'library:prune']) {
      it(`${command} -h`, async () => {
        const short = await runCli([command, '-h'])
        const long = await runCli([command, '--help'])
        expect(short.code, short.stderr).to.equal(0)
        expect(short.stdout).to.equal(long.stdout).and.include('USAGE')
      })
    }
  })
})

/** Gives a few files unicode paths and, when asked, leaves that last commit in the WAL. */
function renameToUnicode(databasePath: string, seed: number, leaveInWal: boolean): void {
  const code = `
import shutil, sqlite3, sys
p, seed, wal = sys.argv[1], int(sys.argv[2]), sys.argv[3] == '1'
names = ['Amélie (2001).mkv', '千と千尋の神隠し.mkv', 'Ελληνικά 🎬.mp4', 'cafe\\u0301 zero\\u200bwidth.mkv', 'עברית.avi']
db = sqlite3.connect(p, isolation_level=None)
db.execute('PRAGMA journal_mode=WAL')
db.execute('PRAGMA wal_autocheckpoint=0')
ids = [r[0] for r in db.execute('SELECT id FROM files ORDER BY id LIMIT 5')]
if wal:
    shutil.copyfile(p, p + '.main')
db.execute('BEGIN')
for i, file_id in enumerate(ids):
    name = names[(seed + i) % len(names)]
    db.execute('UPDATE files SET path = ?, filename = ? WHERE id = ?', ('/media/%d/%s' % (file_id, name), name, file_id))
db.execute('COMMIT')
if wal:
    shutil.copyfile(p + '-wal', p + '.wal')
db.close()
if wal:
    shutil.move(p + '.main', p); shutil.move(p + '.wal', p + '-wal')
    import os
    if os.path.exists(p + '-shm'): os.remove(p + '-shm')
`
  const out = spawnSync('python3', ['-c', code, databasePath, String(seed), leaveInWal ? '1' : '0'], {encoding: 'utf8'})
  if (out.status !== 0) throw new Error(`renaming to unicode failed: ${out.stderr}`)
}
