/**
 * library:backups: listing a directory as a user finds it, with archives made by this plugin, by
 * VPO's Python tool, damaged ones and files that are not backups at all.
 */
import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'

import {type CliResult, parseJson} from '../helpers/cli.js'
import {expectAboutSize, expectHumanError, expectJsonError, runCliChecked} from '../helpers/expectations.js'
import {makeDataDir, treeState} from '../helpers/libraries.js'
import {writePythonArchive} from '../helpers/python-archives.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'
import {pause} from '../helpers/waiting.js'

const ENTRY_KEYS = [
  'filename',
  'path',
  'created_at',
  'archive_size_bytes',
  'database_size_bytes',
  'file_count',
  'schema_version',
  'readable',
]

/** The name stem this plugin gives a backup made at `createdAt` (2026-02-05T14:30:22Z → …T143022Z). */
function stemOf(createdAt: string): string {
  return `vpo-library-${createdAt.replaceAll(':', '')}`
}

/** What `library:backup --json` reported, in the listing's terms. */
function fromPlugin(body: Record<string, unknown>) {
  return {
    created_at: body.created_at as string,
    database_size_bytes: body.database_size_bytes as number,
    file_count: body.file_count as number,
    schema_version: body.schema_version as number,
  }
}

function expectEmpty(result: CliResult, dir: string): void {
  expect(result.code, result.stderr).to.equal(0)
  expect(result.stdout.trimEnd().split('\n')).to.deep.equal([
    `No backups found in ${dir}`,
    'Create a backup with: vpo library:backup',
  ])
}

interface Expected {
  filename: string
  /** What the listing should sort by. */
  time: number
  metadata: null | {created_at: string; database_size_bytes: number; file_count: number; schema_version: number}
}

describe('library:backups', () => {
  after(() => cleanupTempDirs())

  describe('a directory mixing good, foreign and damaged archives', () => {
    let dir: string
    let expected: Expected[]
    let json: CliResult
    let human: CliResult
    let stateBefore: Record<string, string>

    before(async function () {
      this.timeout(60_000)
      const lib = makeDataDir()
      dir = path.join(makeTempDir('vpo-list'), 'my backups')
      fs.mkdirSync(dir)

      // A backup made by this plugin, later saved as a pre-restore safety copy (same content).
      const older = parseJson(await runCliChecked(['library:backup', '--output', dir, '--json'], lib.env))
      const preRestoreName = `${stemOf(older.created_at as string)}-pre-restore.tar.gz`
      fs.renameSync(older.path as string, path.join(dir, preRestoreName))
      // The newest: a plain backup made at least one second later.
      while (Math.floor(Date.now() / 1000) <= Date.parse(older.created_at as string) / 1000) await pause(50)
      const newest = parseJson(await runCliChecked(['library:backup', '--output', dir, '--json'], lib.env))

      // One written by VPO's Python tool: library.db first, no checksum, hyphenated name.
      const py = makeDataDir({files: 300, walFiles: 0, schemaVersion: 26})
      const pyName = 'vpo-library-2026-01-02T03-04-05Z.tar.gz'
      const pyMetadata = {
        vpo_version: '0.41.0',
        schema_version: 26,
        created_at: '2026-01-02T03:04:05Z',
        database_size_bytes: fs.statSync(py.databasePath).size,
        file_count: py.summary.fileCount,
        total_library_size_bytes: py.summary.totalLibrarySizeBytes,
        compression: 'gzip',
      }
      writePythonArchive(py.databasePath, path.join(dir, pyName), pyMetadata)

      // Damaged: a plugin archive cut inside its metadata, a Python archive cut in half, an empty file.
      const truncatedName = 'vpo-library-2025-05-05T050505Z.tar.gz'
      fs.writeFileSync(path.join(dir, truncatedName), fs.readFileSync(newest.path as string).subarray(0, 100))
      const halfName = 'vpo-library-2025-04-04T04-04-04Z.tar.gz'
      const pyBytes = fs.readFileSync(path.join(dir, pyName))
      fs.writeFileSync(path.join(dir, halfName), pyBytes.subarray(0, Math.floor(pyBytes.length / 2)))
      const emptyName = 'vpo-library-from-old-laptop.tar.gz'
      fs.writeFileSync(path.join(dir, emptyName), '')
      const emptyTime = new Date('2025-08-01T12:00:00Z')
      fs.utimesSync(path.join(dir, emptyName), emptyTime, emptyTime)
      // The name's timestamp outranks the file's mtime: make the mtime say "newest of all".
      const future = new Date(Date.now() + 86_400_000)
      fs.utimesSync(path.join(dir, truncatedName), future, future)

      // Not backups at all.
      fs.writeFileSync(path.join(dir, 'notes.txt'), 'weekly backups go here\n')
      fs.writeFileSync(path.join(dir, 'package.json'), '{"name": "host", "version": "1.0.0"}\n')
      fs.mkdirSync(path.join(dir, 'node_modules', 'tar'), {recursive: true})
      fs.copyFileSync(newest.path as string, path.join(dir, 'node_modules', 'vpo-library-2020-01-01T000000Z.tar.gz'))
      fs.copyFileSync(newest.path as string, path.join(dir, 'vpo-library-2024-01-01T000000Z.tar.gz.part'))

      expected = [
        {
          filename: path.basename(newest.path as string),
          time: Date.parse(newest.created_at as string),
          metadata: fromPlugin(newest),
        },
        {filename: preRestoreName, time: Date.parse(older.created_at as string), metadata: fromPlugin(older)},
        {filename: pyName, time: Date.parse(pyMetadata.created_at), metadata: pyMetadata},
        {filename: truncatedName, time: Date.parse('2025-05-05T05:05:05Z'), metadata: null},
        {filename: halfName, time: Date.parse('2025-04-04T04:04:04Z'), metadata: null},
        {filename: emptyName, time: emptyTime.getTime(), metadata: null},
      ].sort((a, b) => b.time - a.time)

      stateBefore = treeState(dir)
      json = await runCliChecked(['library:backups', '--path', dir, '--json'])
      human = await runCliChecked(['library:backups', '-p', dir])
    })

    it('exits 0 and changes nothing in the directory', () => {
      expect(json.code, json.stderr).to.equal(0)
      expect(human.code, human.stderr).to.equal(0)
      expect(treeState(dir)).to.deep.equal(stateBefore)
    })

    it('--json lists every vpo-library-*.tar.gz and nothing else, newest first', () => {
      const body = parseJson(json)
      const backups = body.backups as Array<Record<string, unknown>>
      expect(backups.map((entry) => entry.filename)).to.deep.equal(expected.map((entry) => entry.filename))
    })

    it('--json gives the directory and the totals', () => {
      const body = parseJson(json)
      expect(Object.keys(body).sort()).to.deep.equal(['backups', 'directory', 'total_count', 'total_size_bytes'])
      expect(body.directory).to.equal(dir)
      expect(body.total_count).to.equal(6)
      const sizes = expected.map((entry) => fs.statSync(path.join(dir, entry.filename)).size)
      expect(body.total_size_bytes).to.equal(sizes.reduce((a, b) => a + b, 0))
    })

    it('--json describes each archive; unreadable ones are marked, with null fields', () => {
      const backups = parseJson(json).backups as Array<Record<string, unknown>>
      for (const [index, want] of expected.entries()) {
        const entry = backups[index]
        expect(entry, want.filename).to.include.all.keys(ENTRY_KEYS)
        expect(entry.path).to.equal(path.join(dir, want.filename))
        expect(entry.archive_size_bytes).to.equal(fs.statSync(path.join(dir, want.filename)).size)
        if (want.metadata) {
          expect(entry.readable, want.filename).to.equal(true)
          expect(entry.created_at).to.equal(want.metadata.created_at)
          expect(entry.database_size_bytes).to.equal(want.metadata.database_size_bytes)
          expect(entry.file_count).to.equal(want.metadata.file_count)
          expect(entry.schema_version).to.equal(want.metadata.schema_version)
        } else {
          expect(entry.readable, want.filename).to.equal(false)
          expect(entry.created_at).to.equal(null)
          expect(entry.database_size_bytes).to.equal(null)
          expect(entry.file_count).to.equal(null)
          expect(entry.schema_version).to.equal(null)
        }
      }
    })

    it('the archive from the Python tool is read in full: 300 files, schema 26', () => {
      const backups = parseJson(json).backups as Array<Record<string, unknown>>
      const python = backups.find((entry) => entry.filename === 'vpo-library-2026-01-02T03-04-05Z.tar.gz')!
      expect(python).to.include({
        readable: true,
        file_count: 300,
        schema_version: 26,
        created_at: '2026-01-02T03:04:05Z',
      })
    })

    it('prints a table: Filename, Created, Size, Files, Schema, rows newest first', () => {
      const lines = human.stdout.trimEnd().split('\n')
      const header = lines[0]
      const columns = ['Filename', 'Created', 'Size', 'Files', 'Schema'].map((title) => header.indexOf(title))
      for (const at of columns) expect(at, header).to.be.at.least(0)
      expect(columns).to.deep.equal([...columns].sort((a, b) => a - b))
      const rows = lines.filter((line) => line.startsWith('vpo-library-'))
      expect(rows.map((row) => row.split(/\s+/)[0])).to.deep.equal(expected.map((entry) => entry.filename))
    })

    it('each row shows the time as YYYY-MM-DD HH:MM, a readable size, the file count with separators and the schema', () => {
      const rows = human.stdout.split('\n').filter((line) => line.startsWith('vpo-library-'))
      for (const [index, want] of expected.entries()) {
        const row = rows[index]
        const {size} = fs.statSync(path.join(dir, want.filename))
        if (want.metadata) {
          const created = want.metadata.created_at.slice(0, 16).replace('T', ' ')
          expect(row, want.filename).to.include(created)
          const count = want.metadata.file_count.toLocaleString('en-US')
          expect(row, want.filename).to.match(new RegExp(`\\s${count}\\s+${want.metadata.schema_version}$`))
          const shown = /(\d+(?:\.\d+)? (?:B|KB|MB|GB|KiB|MiB|GiB))/.exec(
            row.slice(row.indexOf(created) + created.length),
          )
          expect(shown, row).to.not.equal(null)
          expectAboutSize(shown![1], size)
        } else {
          expect(row, want.filename).to.match(/unreadable/i)
        }
      }

      expect(human.stdout).to.include('1,525')
    })

    it('ends with the total count and size', () => {
      const total = /^Total: (\d+) backups \((.+)\)$/m.exec(human.stdout)
      expect(total, human.stdout).to.not.equal(null)
      expect(Number(total![1])).to.equal(6)
      expectAboutSize(total![2], parseJson(json).total_size_bytes as number)
      expect(human.stdout.trimEnd().split('\n').at(-1)).to.equal(total![0])
    })

    it('never mentions the files that are not backups', () => {
      for (const output of [human.stdout, json.stdout]) {
        expect(output).to.not.include('notes.txt')
        expect(output).to.not.include('package.json')
        expect(output).to.not.include('node_modules')
        expect(output).to.not.include('.tar.gz.part')
      }
    })
  })

  it('lists <data dir>/backups when --path is not given', async () => {
    const lib = makeDataDir()
    const made = parseJson(await runCliChecked(['library:backup', '--json'], lib.env))
    const result = await runCliChecked(['library:backups', '--json'], lib.env)
    expect(result.code).to.equal(0)
    const body = parseJson(result)
    expect(body.directory).to.equal(lib.backupDir)
    expect((body.backups as Array<Record<string, unknown>>).map((entry) => entry.path)).to.deep.equal([made.path])
    const human = await runCliChecked(['library:backups'], lib.env)
    expect(human.stdout).to.include(path.basename(made.path as string))
    expect(human.stdout).to.match(/^Total: 1 backups? \(/m)
  })

  it('backups made in the same second: the later one (-2) is listed first', async () => {
    const lib = makeDataDir()
    const dir = makeTempDir('vpo-list')
    const first = parseJson(await runCliChecked(['library:backup', '--output', dir, '--json'], lib.env))
    const second = path.join(dir, path.basename(first.path as string).replace('.tar.gz', '-2.tar.gz'))
    fs.copyFileSync(first.path as string, second)
    const earlier = new Date(Date.parse(first.created_at as string))
    fs.utimesSync(first.path as string, earlier, earlier)
    fs.utimesSync(second, new Date(earlier.getTime() + 500), new Date(earlier.getTime() + 500))
    const body = parseJson(await runCliChecked(['library:backups', '--path', dir, '--json']))
    expect((body.backups as Array<Record<string, unknown>>).map((entry) => entry.path)).to.deep.equal([
      second,
      first.path,
    ])
  })

  describe('when there is nothing to list', () => {
    it('an empty directory: the message, the hint and exit 0', async () => {
      const dir = makeTempDir('vpo-list')
      expectEmpty(await runCliChecked(['library:backups', '--path', dir]), dir)
    })

    it('a missing directory: the same, exit 0, and the directory is not created', async () => {
      const dir = path.join(makeTempDir('vpo-list'), 'never made')
      expectEmpty(await runCliChecked(['library:backups', '--path', dir]), dir)
      expect(fs.existsSync(dir)).to.equal(false)
    })

    it('a data directory without backups yet: the default directory in the message', async () => {
      const lib = makeDataDir()
      expectEmpty(await runCliChecked(['library:backups'], lib.env), lib.backupDir)
      expect(fs.existsSync(lib.backupDir)).to.equal(false)
    })

    it('a directory holding only other files', async () => {
      const dir = makeTempDir('vpo-list')
      fs.writeFileSync(path.join(dir, 'notes.txt'), 'hello\n')
      fs.writeFileSync(path.join(dir, 'package.json'), '{}\n')
      fs.mkdirSync(path.join(dir, 'node_modules'))
      expectEmpty(await runCliChecked(['library:backups', '--path', dir]), dir)
    })

    it('--json: an empty listing, exit 0', async () => {
      const dir = path.join(makeTempDir('vpo-list'), 'missing')
      const result = await runCliChecked(['library:backups', '--path', dir, '--json'])
      expect(result.code).to.equal(0)
      expect(parseJson(result)).to.deep.equal({directory: dir, total_count: 0, total_size_bytes: 0, backups: []})
    })
  })

  describe('errors', () => {
    it('--path naming a file: exit 1 with one sentence naming it', async () => {
      const file = path.join(makeTempDir('vpo-list'), 'backups.txt')
      fs.writeFileSync(file, 'not a directory\n')
      const line = expectHumanError(await runCliChecked(['library:backups', '--path', file]), 1)
      expect(line).to.include(file)
      expect(line).to.match(/not a directory/i)
    })

    it('--path naming a file, in JSON: the error object and exit_code 1', async () => {
      const file = path.join(makeTempDir('vpo-list'), 'backups.txt')
      fs.writeFileSync(file, 'not a directory\n')
      const message = expectJsonError(await runCliChecked(['library:backups', '--path', file, '--json']), undefined, 1)
      expect(message).to.include(file)
    })

    it('an unknown flag is a usage error: exit 2', async () => {
      const result = await runCliChecked(['library:backups', '--bogus'])
      expect(result.code).to.equal(2)
      expect(result.stderr).to.include('bogus')
      expect(result.stdout).to.not.include('No backups found')
    })
  })
})
