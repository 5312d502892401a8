/**
 * library:backup, driven as a user drives it: real `bin/run.js` processes against real libraries,
 * archives opened with GNU tar and Python's tarfile, databases opened with SQLite.
 */
import Database from 'better-sqlite3'
import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'

import {type CliResult, parseJson, ROOT, runCli, runCliOnPty} from '../helpers/cli.js'
import {
  expectAboutSize,
  expectHumanError,
  expectJsonError,
  parseHumanSize,
  runCliChecked,
} from '../helpers/expectations.js'
import {extractWithGnuTar, gnuTarList} from '../helpers/gnu-tar.js'
import {TEMP_PREFIX} from '../helpers/leftovers.js'
import {type DataDir, makeDataDir, sha256File, treeState} from '../helpers/libraries.js'
import {type ChildHandle, holdLibraryLock, startLibraryWriter} from '../helpers/processes.js'
import {readArchiveWithPython} from '../helpers/python-archives.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

const PLUGIN_VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {version: string})
  .version
const CREATED_AT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/
const DEFAULT_NAME = /^vpo-library-\d{4}-\d{2}-\d{2}T\d{6}Z\.tar\.gz$/
const SUCCESS_KEYS = [
  'success',
  'path',
  'archive_size_bytes',
  'database_size_bytes',
  'compression_ratio',
  'file_count',
  'total_library_size_bytes',
  'schema_version',
  'created_at',
  'database_sha256',
  'duration_seconds',
  'pruned',
]

/** Archives and plugin temporary files anywhere under `dir`. */
function archivesAndTemps(dir: string): string[] {
  return (fs.readdirSync(dir, {recursive: true}) as string[]).filter(
    (rel) => rel.endsWith('.tar.gz') || path.basename(rel).startsWith(TEMP_PREFIX),
  )
}

/** Permission bits as octal text, e.g. '600'. */
function mode(file: string): string {
  return (fs.statSync(file).mode % 0o1000).toString(8)
}

function countFiles(databasePath: string): {count: number; total: number} {
  const db = new Database(databasePath, {readonly: true})
  try {
    const row = db.prepare('SELECT COUNT(*) AS count, COALESCE(SUM(size_bytes), 0) AS total FROM files').get() as {
      count: number
      total: number
    }
    return row
  } finally {
    db.close()
  }
}

function quickCheck(databasePath: string): string {
  const db = new Database(databasePath, {readonly: true})
  try {
    return db.pragma('quick_check', {simple: true}) as string
  } finally {
    db.close()
  }
}

/** The live database's own bytes: the main file and its WAL. */
function liveBytes(databasePath: string): {db: string; wal: string} {
  return {db: sha256File(databasePath), wal: sha256File(`${databasePath}-wal`)}
}

describe('library:backup', () => {
  after(() => cleanupTempDirs())

  describe('a default backup of a library with commits still in the WAL', () => {
    let lib: ReturnType<typeof makeDataDir>
    let liveBefore: {db: string; wal: string}
    let result: CliResult
    let body: Record<string, unknown>
    let archive: string
    let extracted: string
    let startedAt: number

    before(async () => {
      lib = makeDataDir()
      liveBefore = liveBytes(lib.databasePath)
      startedAt = Date.now()
      result = await runCliChecked(['library:backup', '--json'], lib.env)
      body = parseJson(result)
      archive = body.path as string
      extracted = extractWithGnuTar(archive)
    })

    it('the fixture really keeps recent commits only in library.db-wal', () => {
      // Without the WAL, the database file alone holds only the checkpointed files.
      const alone = path.join(makeTempDir('vpo-alone'), 'alone.db')
      fs.copyFileSync(lib.databasePath, alone)
      expect(countFiles(alone).count).to.equal(lib.summary.fileCount - lib.summary.walFileCount)
      expect(lib.summary.walFileCount).to.be.above(0)
    })

    it('exits 0 with the archive in <data dir>/backups under the default name, and a clean stderr', () => {
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stderr).to.equal('')
      expect(path.dirname(archive)).to.equal(lib.backupDir)
      expect(path.basename(archive)).to.match(DEFAULT_NAME)
      // The name is the metadata's time, without the colons.
      expect(path.basename(archive)).to.equal(`vpo-library-${(body.created_at as string).replaceAll(':', '')}.tar.gz`)
    })

    it('leaves nothing but the archive in the backup directory (no temporary files)', () => {
      expect(fs.readdirSync(lib.backupDir)).to.deep.equal([path.basename(archive)])
    })

    it('creates the archive with mode 0600 and the backup directory with mode 0700', () => {
      expect(mode(archive)).to.equal('600')
      expect(mode(lib.backupDir)).to.equal('700')
    })

    it('GNU tar lists exactly backup_metadata.json then library.db, regular files with mode 0600', () => {
      const members = gnuTarList(archive)
      expect(members.map((m) => m.name)).to.deep.equal(['backup_metadata.json', 'library.db'])
      for (const member of members) expect(member.mode, member.name).to.equal('-rw-------')
      expect(members[1].size).to.equal(body.database_size_bytes)
      expect(fs.readdirSync(extracted).sort()).to.deep.equal(['backup_metadata.json', 'library.db'])
    })

    it("Python's tarfile reads the same two regular members, mode 0600, and the same database bytes", () => {
      const view = readArchiveWithPython(archive)
      expect(view.members).to.deep.equal([
        {
          name: 'backup_metadata.json',
          type: 'file',
          mode: 0o600,
          size: fs.statSync(path.join(extracted, 'backup_metadata.json')).size,
        },
        {name: 'library.db', type: 'file', mode: 0o600, size: body.database_size_bytes},
      ])
      expect(view.databaseSha256).to.equal(sha256File(path.join(extracted, 'library.db')))
      expect(view.metadata).to.deep.equal(
        JSON.parse(fs.readFileSync(path.join(extracted, 'backup_metadata.json'), 'utf8')),
      )
    })

    it('writes every metadata field with its type and the right value', () => {
      const metadata = JSON.parse(fs.readFileSync(path.join(extracted, 'backup_metadata.json'), 'utf8')) as Record<
        string,
        unknown
      >
      const db = path.join(extracted, 'library.db')
      expect(metadata.vpo_version).to.equal(PLUGIN_VERSION)
      expect(metadata.schema_version).to.equal(27)
      expect(metadata.created_at).to.be.a('string').and.match(CREATED_AT)
      const created = Date.parse(metadata.created_at as string)
      expect(created).to.be.within(Math.floor(startedAt / 1000) * 1000, Date.now())
      expect(metadata.database_size_bytes).to.equal(fs.statSync(db).size)
      expect(metadata.database_sha256)
        .to.be.a('string')
        .and.match(/^[\da-f]{64}$/)
      expect(metadata.database_sha256).to.equal(sha256File(db))
      expect(metadata.file_count).to.equal(lib.summary.fileCount)
      expect(metadata.total_library_size_bytes).to.equal(lib.summary.totalLibrarySizeBytes)
      expect(metadata.compression).to.equal('gzip')
      for (const field of ['schema_version', 'database_size_bytes', 'file_count', 'total_library_size_bytes']) {
        expect(Number.isSafeInteger(metadata[field]), field).to.equal(true)
      }
    })

    it('archives a sound database that includes the rows that were only in the WAL', () => {
      const db = path.join(extracted, 'library.db')
      expect(quickCheck(db)).to.equal('ok')
      const {count, total} = countFiles(db)
      expect(count).to.equal(lib.summary.fileCount)
      expect(total).to.equal(lib.summary.totalLibrarySizeBytes)
      const snapshot = new Database(db, {readonly: true})
      try {
        const walRows = snapshot
          .prepare('SELECT COUNT(*) AS n FROM files WHERE id > ?')
          .get(lib.summary.fileCount - lib.summary.walFileCount) as {n: number}
        expect(walRows.n).to.equal(lib.summary.walFileCount)
        const tracks = snapshot
          .prepare('SELECT COUNT(*) AS n FROM tracks WHERE file_id > ?')
          .get(lib.summary.fileCount - lib.summary.walFileCount) as {n: number}
        expect(tracks.n).to.be.at.least(2 * lib.summary.walFileCount)
      } finally {
        snapshot.close()
      }
    })

    it('leaves the live library.db and library.db-wal byte for byte as they were', () => {
      expect(liveBytes(lib.databasePath)).to.deep.equal(liveBefore)
    })

    it('--json prints exactly the documented keys, with values that match the archive', () => {
      expect(Object.keys(body).sort()).to.deep.equal([...SUCCESS_KEYS].sort())
      const db = path.join(extracted, 'library.db')
      expect(body.success).to.equal(true)
      expect(body.path).to.equal(archive)
      expect(body.archive_size_bytes).to.equal(fs.statSync(archive).size)
      expect(body.database_size_bytes).to.equal(fs.statSync(db).size)
      const expectedRatio = Math.round((1 - fs.statSync(archive).size / fs.statSync(db).size) * 1000) / 1000
      expect(body.compression_ratio).to.be.a('number')
      expect(Math.abs((body.compression_ratio as number) - expectedRatio)).to.be.at.most(0.001)
      expect(body.compression_ratio).to.be.within(0.3, 0.95) // a SQLite catalogue compresses well
      expect(body.file_count).to.equal(lib.summary.fileCount)
      expect(body.total_library_size_bytes).to.equal(lib.summary.totalLibrarySizeBytes)
      expect(body.schema_version).to.equal(27)
      expect(body.created_at).to.be.a('string').and.match(CREATED_AT)
      expect(body.database_sha256).to.equal(sha256File(db))
      expect(body.duration_seconds).to.be.a('number').and.within(0, 30)
      expect(body.pruned).to.deep.equal([])
    })
  })

  it('prints a human summary with readable sizes and thousands separators', async () => {
    const lib = makeDataDir()
    const result = await runCliChecked(['library:backup'], lib.env)
    expect(result.code, result.stderr).to.equal(0)
    expect(result.stderr).to.equal('')
    const [archive] = fs.readdirSync(lib.backupDir)
    const archivePath = path.join(lib.backupDir, archive)
    const lines = result.stdout.trimEnd().split('\n')
    expect(lines[0]).to.equal(`Backup created: ${archivePath}`)
    const databaseSize = /Database size:\s+(.+)$/m.exec(result.stdout)
    const archiveSize = /Archive size:\s+(.+?) \((\d+)% smaller\)$/m.exec(result.stdout)
    expect(databaseSize, result.stdout).to.not.equal(null)
    expect(archiveSize, result.stdout).to.not.equal(null)
    const databaseBytes = fs.statSync(path.join(extractWithGnuTar(archivePath), 'library.db')).size
    const archiveBytes = fs.statSync(archivePath).size
    expect(databaseSize![1]).to.match(/ MB$/)
    expect(archiveSize![1]).to.match(/ KB$/)
    expectAboutSize(databaseSize![1], databaseBytes)
    expectAboutSize(archiveSize![1], archiveBytes)
    expect(Number(archiveSize![2])).to.be.closeTo(Math.round((1 - archiveBytes / databaseBytes) * 100), 1)
    expect(result.stdout).to.match(/Files in library: 1,525$/m)
    expect(result.stdout).to.not.match(/\b1525\b/)
  })

  it('takes one consistent snapshot while another process keeps committing', async function () {
    this.timeout(60_000)
    const lib = makeDataDir()
    const baseCount = lib.summary.fileCount
    let writer: ChildHandle | undefined
    let result: CliResult
    try {
      writer = await startLibraryWriter(lib.databasePath)
      result = await runCliChecked(['library:backup', '--json'], lib.env)
    } finally {
      await writer?.stop()
    }

    expect(result.code, result.stderr + result.stdout).to.equal(0)
    const body = parseJson(result)
    const db = path.join(extractWithGnuTar(body.path as string), 'library.db')
    expect(quickCheck(db)).to.equal('ok')
    const snapshot = new Database(db, {readonly: true})
    let snapshotCommits: number
    try {
      snapshotCommits = Number(
        (snapshot.prepare("SELECT value FROM _meta WHERE key = 'writer_commits'").get() as {value: string}).value,
      )
      const orphans = snapshot
        .prepare(
          'SELECT COUNT(*) AS n FROM files f WHERE f.id > ? AND (SELECT COUNT(*) FROM tracks t WHERE t.file_id = f.id) <> 2',
        )
        .get(baseCount) as {n: number}
      expect(orphans.n, 'files committed without their tracks').to.equal(0)
    } finally {
      snapshot.close()
    }

    const {count, total} = countFiles(db)
    // One instant: the counter, the rows and the metadata all agree.
    expect(snapshotCommits).to.be.at.least(20)
    expect(count).to.equal(baseCount + snapshotCommits)
    expect(body.file_count).to.equal(count)
    expect(body.total_library_size_bytes).to.equal(total)
    // And the writer really was running around the backup: it committed more afterwards.
    const live = new Database(lib.databasePath, {readonly: true})
    try {
      const liveCommits = Number(
        (live.prepare("SELECT value FROM _meta WHERE key = 'writer_commits'").get() as {value: string}).value,
      )
      expect(liveCommits).to.be.above(snapshotCommits)
    } finally {
      live.close()
    }
  })

  describe('when another process holds the daemon lock', () => {
    let lock: undefined | {release(): Promise<void>}

    afterEach(async () => {
      await lock?.release()
      lock = undefined
    })

    it('exits 4, says the library is locked, and writes nothing', async () => {
      const lib = makeDataDir()
      lock = await holdLibraryLock(lib.databasePath)
      const state = treeState(lib.dataDir)
      const result = await runCliChecked(['library:backup'], lib.env)
      const message = expectHumanError(result, 4)
      expect(message).to.include(lib.databasePath)
      expect(message).to.match(/locked/i)
      expect(treeState(lib.dataDir)).to.deep.equal(state)
      expect(fs.existsSync(lib.backupDir)).to.equal(false)
    })

    it('with --json prints DATABASE_LOCKED with exit_code 4', async () => {
      const lib = makeDataDir()
      lock = await holdLibraryLock(lib.databasePath)
      const result = await runCliChecked(['library:backup', '--json'], lib.env)
      expectJsonError(result, 'DATABASE_LOCKED', 4)
      expect(fs.existsSync(lib.backupDir)).to.equal(false)
    })

    it('--dry-run also exits 4 and creates nothing', async () => {
      const lib = makeDataDir()
      lock = await holdLibraryLock(lib.databasePath)
      const before = liveBytes(lib.databasePath)
      const names = Object.keys(treeState(lib.dataDir)).sort()
      const result = await runCliChecked(['library:backup', '--dry-run'], lib.env)
      expect(expectHumanError(result, 4)).to.match(/locked/i)
      expect(Object.keys(treeState(lib.dataDir)).sort()).to.deep.equal(names)
      expect(liveBytes(lib.databasePath)).to.deep.equal(before)
    })

    it('succeeds again once the lock is released', async () => {
      const lib = makeDataDir()
      lock = await holdLibraryLock(lib.databasePath)
      expect((await runCliChecked(['library:backup'], lib.env)).code).to.equal(4)
      await lock.release()
      lock = undefined
      const result = await runCliChecked(['library:backup'], lib.env)
      expect(result.code, result.stderr).to.equal(0)
      expect(fs.readdirSync(lib.backupDir)).to.have.length(1)
    })
  })

  describe('refuses what is not a VPO library, with exit 1', () => {
    it('a missing database: names the path and how to point at another', async () => {
      const dataDir = makeTempDir('vpo-empty')
      const result = await runCliChecked(['library:backup'], {VPO_DATA_DIR: dataDir})
      const message = expectHumanError(result, 1)
      expect(message).to.include(path.join(dataDir, 'library.db'))
      expect(message).to.include('--db')
      expect(message).to.include('VPO_DATA_DIR')
      expect(fs.readdirSync(dataDir)).to.deep.equal([])
    })

    it('a missing --db path, in JSON', async () => {
      const missing = path.join(makeTempDir('vpo-empty'), 'nowhere', 'library.db')
      const message = expectJsonError(
        await runCliChecked(['library:backup', '--json', '--db', missing]),
        'DATABASE_NOT_FOUND',
        1,
      )
      expect(message).to.include(missing)
    })

    it('a file of random bytes', async () => {
      const dataDir = makeTempDir('vpo-random')
      const db = path.join(dataDir, 'library.db')
      fs.writeFileSync(db, Buffer.from(Array.from({length: 8192}, (_, i) => (i * 7919 + 13) % 251)))
      const bytes = sha256File(db)
      const message = expectHumanError(await runCliChecked(['library:backup'], {VPO_DATA_DIR: dataDir}), 1)
      expect(message).to.include(db)
      expect(message).to.match(/not a VPO library/)
      expect(sha256File(db)).to.equal(bytes)
      expect(archivesAndTemps(dataDir)).to.deep.equal([])
    })

    it('a SQLite database without _meta and files', async () => {
      const dataDir = makeTempDir('vpo-other')
      const db = path.join(dataDir, 'library.db')
      const other = new Database(db)
      other.exec("CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT); INSERT INTO photos (path) VALUES ('/a.jpg')")
      other.close()
      const message = expectJsonError(
        await runCliChecked(['library:backup', '--json'], {VPO_DATA_DIR: dataDir}),
        'NOT_A_LIBRARY',
        1,
      )
      expect(message).to.include(db)
      expect(archivesAndTemps(dataDir)).to.deep.equal([])
    })

    it('a SQLite database with _meta but no files table', async () => {
      const dataDir = makeTempDir('vpo-other')
      const db = path.join(dataDir, 'library.db')
      const other = new Database(db)
      other.exec(
        "CREATE TABLE _meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); INSERT INTO _meta VALUES ('schema_version', '27')",
      )
      other.close()
      expect(expectHumanError(await runCliChecked(['library:backup'], {VPO_DATA_DIR: dataDir}), 1)).to.match(
        /not a VPO library/,
      )
      expect(archivesAndTemps(dataDir)).to.deep.equal([])
    })

    it('a refused backup does not create the backup directory (it is created only when first needed)', async () => {
      const dataDir = makeTempDir('vpo-random')
      fs.writeFileSync(path.join(dataDir, 'library.db'), 'this is a text file, not a database\n'.repeat(200))
      const state = treeState(dataDir)
      expect((await runCliChecked(['library:backup'], {VPO_DATA_DIR: dataDir})).code).to.equal(1)
      expect(treeState(dataDir)).to.deep.equal(state)
    })
  })

  describe('--output', () => {
    it('writes exactly the file asked for, mode 0600, without creating the default backup directory', async () => {
      const lib = makeDataDir()
      const output = path.join(makeTempDir('vpo-out'), 'nightly.tar.gz')
      const result = await runCliChecked(['library:backup', '--output', output, '--json'], lib.env)
      expect(result.code, result.stdout).to.equal(0)
      expect(parseJson(result).path).to.equal(output)
      expect(mode(output)).to.equal('600')
      expect(gnuTarList(output).map((m) => m.name)).to.deep.equal(['backup_metadata.json', 'library.db'])
      expect(fs.existsSync(lib.backupDir)).to.equal(false)
    })

    it('into an existing directory: the default name inside it', async () => {
      const lib = makeDataDir()
      const dir = makeTempDir('vpo-outdir')
      const result = await runCliChecked(['library:backup', '-o', dir, '--json'], lib.env)
      expect(result.code, result.stdout).to.equal(0)
      const written = parseJson(result).path as string
      expect(path.dirname(written)).to.equal(dir)
      expect(path.basename(written)).to.match(DEFAULT_NAME)
      expect(fs.readdirSync(dir)).to.deep.equal([path.basename(written)])
      expect(fs.existsSync(lib.backupDir)).to.equal(false)
    })

    it('an existing file: exit 1 and the file untouched, unless --force', async () => {
      const lib = makeDataDir()
      const output = path.join(makeTempDir('vpo-out'), 'library.tar.gz')
      fs.writeFileSync(output, 'precious\n')
      const refused = await runCliChecked(['library:backup', '--output', output], lib.env)
      const message = expectHumanError(refused, 1)
      expect(message).to.include(output)
      expect(message).to.include('--force')
      expect(fs.readFileSync(output, 'utf8')).to.equal('precious\n')
      expectJsonError(
        await runCliChecked(['library:backup', '--output', output, '--json'], lib.env),
        'OUTPUT_EXISTS',
        1,
      )
      expect(fs.readFileSync(output, 'utf8')).to.equal('precious\n')
      expect(fs.readdirSync(path.dirname(output))).to.deep.equal(['library.tar.gz'])

      const forced = await runCliChecked(['library:backup', '--output', output, '--force', '--json'], lib.env)
      expect(forced.code, forced.stdout).to.equal(0)
      const body = parseJson(forced)
      expect(body.path).to.equal(output)
      expect(mode(output)).to.equal('600')
      expect(readArchiveWithPython(output).databaseSha256).to.equal(body.database_sha256)
      expect(fs.readdirSync(path.dirname(output))).to.deep.equal(['library.tar.gz'])
    })

    it('--dry-run with an existing --output exits 1 as the real run would', async () => {
      const lib = makeDataDir()
      const output = path.join(makeTempDir('vpo-out'), 'library.tar.gz')
      fs.writeFileSync(output, 'precious\n')
      expect(
        expectHumanError(await runCliChecked(['library:backup', '--dry-run', '--output', output], lib.env), 1),
      ).to.include(output)
      expect(fs.readFileSync(output, 'utf8')).to.equal('precious\n')
    })

    it('into a directory that does not exist: exit 1 naming it, nothing created', async () => {
      const lib = makeDataDir()
      const parent = makeTempDir('vpo-out')
      const output = path.join(parent, 'missing', 'library.tar.gz')
      expect(expectHumanError(await runCliChecked(['library:backup', '--output', output], lib.env), 1)).to.include(
        path.join(parent, 'missing'),
      )
      expect(fs.readdirSync(parent)).to.deep.equal([])
    })
  })

  it('works with spaces, quotes, newlines and non-ASCII characters in every path', async () => {
    const parent = path.join(makeTempDir('vpo-odd'), `Jürgen's "Vidéos" 日本`)
    fs.mkdirSync(parent)
    const lib = makeDataDir({}, parent)
    const outDir = path.join(parent, 'nightly\nbackups ✓')
    fs.mkdirSync(outDir)
    const output = path.join(outDir, `lib "copy" 'ü'.tar.gz`)
    const result = await runCliChecked(['library:backup', '--db', lib.databasePath, '--output', output, '--json'])
    expect(result.code, result.stdout).to.equal(0)
    expect(parseJson(result).path).to.equal(output)
    expect(fs.readdirSync(outDir)).to.deep.equal([path.basename(output)])
    expect(readArchiveWithPython(output).metadata.file_count).to.equal(lib.summary.fileCount)

    const byDefault = await runCliChecked(['library:backup', '--json'], lib.env)
    expect(byDefault.code, byDefault.stdout).to.equal(0)
    expect(path.dirname(parseJson(byDefault).path as string)).to.equal(path.join(parent, 'vpo', 'backups'))
    const human = await runCliChecked(['library:backup'], lib.env)
    expect(human.code).to.equal(0)
    expect(human.stdout).to.include(`Backup created: ${path.join(parent, 'vpo', 'backups')}`)
  })

  it('two backups in the same second get two files: the second with -2, then -3, none overwritten', async () => {
    const lib = makeDataDir()
    // A real archive to plant under every name the next seconds could produce.
    const seed = path.join(makeTempDir('vpo-seed'), 'seed.tar.gz')
    expect((await runCliChecked(['library:backup', '--output', seed], lib.env)).code).to.equal(0)
    const seedSha = sha256File(seed)
    fs.mkdirSync(lib.backupDir, {mode: 0o700})
    const start = Math.floor(Date.now() / 1000)
    const stem = (second: number) =>
      `vpo-library-${new Date(second * 1000).toISOString().slice(0, 19).replaceAll(':', '')}Z`
    const planted: string[] = []
    for (let s = start - 1; s < start + 30; s++) {
      planted.push(`${stem(s)}.tar.gz`)
      fs.copyFileSync(seed, path.join(lib.backupDir, `${stem(s)}.tar.gz`))
    }

    const first = parseJson(await runCliChecked(['library:backup', '--json'], lib.env))
    const firstStem = `vpo-library-${(first.created_at as string).replaceAll(':', '')}`
    expect(path.basename(first.path as string)).to.equal(`${firstStem}-2.tar.gz`)

    for (let s = start - 1; s < start + 30; s++) {
      const name = `${stem(s)}-2.tar.gz`
      if (!fs.existsSync(path.join(lib.backupDir, name))) {
        planted.push(name)
        fs.copyFileSync(seed, path.join(lib.backupDir, name))
      }
    }

    const second = parseJson(await runCliChecked(['library:backup', '--json'], lib.env))
    expect(path.basename(second.path as string)).to.equal(
      `vpo-library-${(second.created_at as string).replaceAll(':', '')}-3.tar.gz`,
    )
    for (const name of planted) expect(sha256File(path.join(lib.backupDir, name)), name).to.equal(seedSha)
    expect(fs.readdirSync(lib.backupDir).sort()).to.deep.equal(
      [...planted, path.basename(first.path as string), path.basename(second.path as string)].sort(),
    )
    expect(readArchiveWithPython(second.path as string).metadata.created_at).to.equal(second.created_at)
    expect(fs.readdirSync(lib.backupDir).filter((name) => name.startsWith('.'))).to.deep.equal([])
  })

  it('two backups in a row both survive, under different names', async () => {
    const lib = makeDataDir()
    const first = parseJson(await runCliChecked(['library:backup', '--json'], lib.env))
    const second = parseJson(await runCliChecked(['library:backup', '--json'], lib.env))
    expect(second.path).to.not.equal(first.path)
    expect(fs.readdirSync(lib.backupDir).sort()).to.deep.equal(
      [path.basename(first.path as string), path.basename(second.path as string)].sort(),
    )
    if (first.created_at === second.created_at)
      expect(second.path).to.equal((first.path as string).replace(/\.tar\.gz$/, '-2.tar.gz'))
  })

  describe('--keep N', () => {
    it('deletes only the oldest regular backups, never pre-restore ones or foreign files', async () => {
      const lib = makeDataDir()
      const seed = path.join(makeTempDir('vpo-seed'), 'seed.tar.gz')
      expect((await runCliChecked(['library:backup', '--output', seed], lib.env)).code).to.equal(0)
      fs.mkdirSync(lib.backupDir, {mode: 0o700})
      const plant = (name: string, content?: string) => {
        const target = path.join(lib.backupDir, name)
        if (content === undefined) fs.copyFileSync(seed, target)
        else fs.writeFileSync(target, content)
        return target
      }

      const oldest = plant('vpo-library-2020-01-01T000000Z.tar.gz')
      const older = plant('vpo-library-2021-06-15T120000Z.tar.gz')
      const old = plant('vpo-library-2022-03-04T050607Z.tar.gz')
      const preRestore = plant('vpo-library-2019-01-01T000000Z-pre-restore.tar.gz')
      const notes = plant('notes.txt', 'my notes\n')
      const custom = plant('vpo-library-before-upgrade.tar.gz')
      const result = await runCliChecked(['library:backup', '--keep', '2', '--json'], lib.env)
      expect(result.code, result.stdout).to.equal(0)
      const body = parseJson(result)
      expect((body.pruned as string[]).sort()).to.deep.equal([oldest, older].sort())
      expect(fs.readdirSync(lib.backupDir).sort()).to.deep.equal(
        [
          path.basename(body.path as string),
          path.basename(old),
          path.basename(preRestore),
          path.basename(notes),
          path.basename(custom),
        ].sort(),
      )
      expect(fs.readFileSync(notes, 'utf8')).to.equal('my notes\n')
    })

    it('prunes nothing when no more than N backups exist', async () => {
      const lib = makeDataDir()
      expect((await runCliChecked(['library:backup'], lib.env)).code).to.equal(0)
      const result = await runCliChecked(['library:backup', '--keep', '3', '--json'], lib.env)
      expect(parseJson(result).pruned).to.deep.equal([])
      expect(fs.readdirSync(lib.backupDir)).to.have.length(2)
    })

    it('--keep 1 keeps just the backup it made', async () => {
      const lib = makeDataDir()
      expect((await runCliChecked(['library:backup'], lib.env)).code).to.equal(0)
      const [first] = fs.readdirSync(lib.backupDir)
      const body = parseJson(await runCliChecked(['library:backup', '--keep', '1', '--json'], lib.env))
      expect(body.pruned).to.deep.equal([path.join(lib.backupDir, first)])
      expect(fs.readdirSync(lib.backupDir)).to.deep.equal([path.basename(body.path as string)])
    })
  })

  describe('--dry-run', () => {
    it('creates nothing, not even the backup directory, and reports what a backup would be', async () => {
      const lib = makeDataDir()
      const state = treeState(lib.dataDir)
      const before = liveBytes(lib.databasePath)
      const result = await runCliChecked(['library:backup', '--dry-run'], lib.env)
      expect(result.code, result.stderr).to.equal(0)
      expect(fs.existsSync(lib.backupDir)).to.equal(false)
      expect(Object.keys(treeState(lib.dataDir)).sort()).to.deep.equal(Object.keys(state).sort())
      expect(liveBytes(lib.databasePath)).to.deep.equal(before)
      expect(result.stdout).to.include(lib.databasePath)
      expect(result.stdout).to.match(
        new RegExp(
          `${lib.backupDir.replaceAll(/[.*+?^${}()|[\]\\/]/g, String.raw`\$&`)}/vpo-library-\\d{4}-\\d{2}-\\d{2}T\\d{6}Z\\.tar\\.gz`,
        ),
      )
      expect(result.stdout).to.match(/1,525/)
      expect(result.stdout).to.match(/\b27\b/)
      expect(result.stdout).to.match(/dry run/i)

      // The estimate brackets what a real backup then writes.
      const range = /([\d.]+ [KMG]?i?B) to ([\d.]+ [KMG]?i?B)/.exec(result.stdout)
      expect(range, result.stdout).to.not.equal(null)
      const real = parseJson(await runCliChecked(['library:backup', '--json'], lib.env))
      const size = real.archive_size_bytes as number
      expect(parseHumanSize(range![1])).to.be.at.most(size * 1.05)
      expect(parseHumanSize(range![2])).to.be.at.least(size * 0.95)
    })

    it('--dry-run of a missing database exits 1 and creates nothing', async () => {
      const dataDir = makeTempDir('vpo-empty')
      expect(
        expectHumanError(await runCliChecked(['library:backup', '--dry-run'], {VPO_DATA_DIR: dataDir}), 1),
      ).to.include(path.join(dataDir, 'library.db'))
      expect(fs.readdirSync(dataDir)).to.deep.equal([])
    })
  })

  it('an unknown flag is a usage error: exit 2', async () => {
    const lib = makeDataDir()
    const result = await runCliChecked(['library:backup', '--bogus'], lib.env)
    expect(result.code).to.equal(2)
    expect(result.stderr).to.match(/bogus/)
    expect(fs.existsSync(lib.backupDir)).to.equal(false)
    expectJsonError(await runCliChecked(['library:backup', '--bogus', '--json'], lib.env), 'USAGE_ERROR', 2)
  })

  describe('progress', () => {
    // ~25 MB: long enough that the progress line is drawn more than once.
    let big: DataDir

    before(function () {
      this.timeout(60_000)
      big = makeDataDir({files: 22_000, walFiles: 50, seed: 12})
    })

    it('shows progress on a terminal, on the same line, and ends with the report', () => {
      const result = runCliOnPty(['library:backup', '--output', path.join(makeTempDir('vpo-tty'), 'a.tar.gz')], {
        env: big.env,
        prompt: 'never-shown',
      })
      expect(result.code, result.output).to.equal(0)
      expect(result.output).to.match(/Compressing \d+% \([\d.]+ [KM]B of [\d.]+ MB\)/)
      expect(result.output, 'redrawn in place with a carriage return').to.include('\r')
      expect(result.output).to.match(/Backup created: /)
    })

    it('keeps piped output clean: no progress on stderr, only the report on stdout', async () => {
      const result = await runCli(['library:backup', '--output', path.join(makeTempDir('vpo-pipe'), 'a.tar.gz')], {
        env: big.env,
      })
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stderr).to.equal('')
      expect(result.stdout).to.not.match(/Compressing|\r/)
    })

    it('shows no progress with --json, even on a terminal', () => {
      const result = runCliOnPty(
        ['library:backup', '--json', '--output', path.join(makeTempDir('vpo-tty'), 'a.tar.gz')],
        {env: big.env, prompt: 'never-shown'},
      )
      expect(result.code, result.output).to.equal(0)
      expect(result.output).to.not.match(/Compressing|Taking snapshot/)
      expect(JSON.parse(result.output.replaceAll('\r\n', '\n')).success).to.equal(true)
    })
  })
})
