/**
 * Issue 10, items 9 and 10: library:backups trusts an archive only when its structure is whole,
 * and text from archives and file names reaches the terminal escaped, while JSON keeps it exact.
 */
import {expect} from 'chai'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

import {type CliResult, parseJson} from '../helpers/cli.js'
import {expectHumanError, expectJsonError, runCliChecked} from '../helpers/expectations.js'
import {gzipMemberOffsets, plantBackup, rawControls} from '../helpers/hardening.js'
import {archiveOf, type DataDir, makeDataDir} from '../helpers/libraries.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

interface Listed {
  filename: string
  path: string
  readable: boolean
  problem?: string
  created_at: null | string
  file_count: null | number
  database_size_bytes: null | number
}

async function listJson(dir: string, env: NodeJS.ProcessEnv = {}): Promise<{backups: Listed[]; directory: string}> {
  const result = await runCliChecked(['library:backups', '--json', '--path', dir], env)
  expect(result.code, result.stderr).to.equal(0)
  return parseJson(result) as unknown as {backups: Listed[]; directory: string}
}

/** Backup names for the variants, one per day, so each is listed under its own name. */
function nameFor(index: number): string {
  return `vpo-library-2024-05-${String(index + 1).padStart(2, '0')}T000000Z.tar.gz`
}

describe('library:backups integrity and terminal safety (issue 10: 9, 10)', function () {
  this.timeout(120_000)

  after(() => cleanupTempDirs())

  describe('9. a truncated archive, or one with bytes appended, is never listed as readable', () => {
    let lib: DataDir
    let whole: string
    let dir: string
    const variants: Array<{label: string; bytes: (data: Buffer, offsets: number[]) => Buffer}> = []
    let listed: Map<string, Listed>

    before(async () => {
      lib = makeDataDir({files: 3000, walFiles: 20})
      whole = (await archiveOf(lib)).path
      const data = fs.readFileSync(whole)
      const offsets = gzipMemberOffsets(whole)
      expect(offsets.length, 'the archive has a metadata, database and end member at least').to.be.at.least(4)
      const last = offsets.at(-1)!
      const other = await archiveOf(lib)
      variants.push(
        {label: 'cut inside the metadata member', bytes: (d, o) => d.subarray(0, o[0] + 40)},
        {label: 'cut mid-database', bytes: (d, o) => d.subarray(0, Math.floor((o[1] + o.at(-1)!) / 2) + 7)},
        {label: 'cut at the first member boundary', bytes: (d, o) => d.subarray(0, o[1])},
        {label: 'cut at the second member boundary', bytes: (d, o) => d.subarray(0, o[2])},
        {label: 'missing only the last member', bytes: (d) => d.subarray(0, last)},
        {label: 'cut one byte short', bytes: (d) => d.subarray(0, -1)},
        {label: 'random bytes appended', bytes: (d) => Buffer.concat([d, crypto.randomBytes(333)])},
        {label: 'a second copy of the last member appended', bytes: (d) => Buffer.concat([d, d.subarray(last)])},
        {
          label: 'a second copy of a database member appended',
          bytes: (d, o) => Buffer.concat([d, d.subarray(o[2], o[3])]),
        },
        {label: 'a whole second archive appended', bytes: (d) => Buffer.concat([d, fs.readFileSync(other.path)])},
      )
      dir = makeTempDir('vpo-integrity')
      fs.copyFileSync(whole, path.join(dir, 'vpo-library-2024-06-01T000000Z.tar.gz'))
      for (const [index, variant] of variants.entries())
        fs.writeFileSync(path.join(dir, nameFor(index)), variant.bytes(data, offsets))
      listed = new Map((await listJson(dir)).backups.map((entry) => [entry.filename, entry]))
    })

    it('the whole archive stays readable with its metadata', () => {
      const entry = listed.get('vpo-library-2024-06-01T000000Z.tar.gz')!
      expect(entry.readable, entry.problem).to.equal(true)
      expect(entry.file_count).to.equal(lib.summary.fileCount)
    })

    for (const [index, label] of [
      'cut inside the metadata member',
      'cut mid-database',
      'cut at the first member boundary',
      'cut at the second member boundary',
      'missing only the last member',
      'cut one byte short',
      'random bytes appended',
      'a second copy of the last member appended',
      'a second copy of a database member appended',
      'a whole second archive appended',
    ].entries()) {
      it(`${label}: readable false, a problem, none of its metadata`, () => {
        const entry = listed.get(nameFor(index))
        expect(entry, `${nameFor(index)} is listed`).to.not.equal(undefined)
        expect(entry!.readable, `${label} listed as readable`).to.equal(false)
        expect(entry!.problem).to.be.a('string').and.include(entry!.path)
        expect([entry!.created_at, entry!.file_count, entry!.database_size_bytes]).to.deep.equal([null, null, null])
      })
    }

    it('the human listing marks them unreadable and still shows the whole one', async () => {
      const result = await runCliChecked(['library:backups', '--path', dir])
      expect(result.code).to.equal(0)
      const rows = result.stdout.split('\n').filter((line) => line.startsWith('vpo-library-'))
      expect(rows.filter((line) => line.includes('unreadable'))).to.have.lengthOf(variants.length)
      expect(rows.find((line) => line.startsWith('vpo-library-2024-06-01'))).to.not.include('unreadable')
    })

    it("an archive in VPO's Python layout cut short is unreadable too", async () => {
      const pyDir = makeTempDir('vpo-integrity-py')
      const planted = plantBackup(whole, pyDir, 'vpo-library-2024-07-01T000000Z.tar.gz')
      const data = fs.readFileSync(planted)
      fs.writeFileSync(
        path.join(pyDir, 'vpo-library-2024-07-02T000000Z.tar.gz'),
        data.subarray(0, Math.floor(data.length * 0.6)),
      )
      const byName = new Map((await listJson(pyDir)).backups.map((entry) => [entry.filename, entry]))
      expect(byName.get('vpo-library-2024-07-01T000000Z.tar.gz')!.readable).to.equal(true)
      expect(byName.get('vpo-library-2024-07-02T000000Z.tar.gz')!.readable).to.equal(false)
    })
  })

  describe('10. control characters from archives and file names are escaped on a terminal, exact in JSON', () => {
    const HOSTILE = '1.0\u001B]0;pwned title\u0007\r\n  Checksum:      verified (sha256)\u009B31m\u0085'
    const HOSTILE_DIR = 'bkp\u001B[2J\r\nChecksum: verified\u009D'
    let dir: string
    let archive: string
    let env: NodeJS.ProcessEnv

    /** Nothing a terminal would act on, and at most one line that claims a verified checksum. */
    function expectInert(result: CliResult): void {
      expect(
        rawControls(result),
        `raw control characters reached the terminal:\n${JSON.stringify(result.stdout + result.stderr)}`,
      ).to.deep.equal([])
      expect(
        (result.stdout + result.stderr).split('\n').filter((line) => /^\s*Checksum:/.test(line)).length,
      ).to.be.at.most(1)
    }

    before(async () => {
      const lib = makeDataDir({files: 100, walFiles: 5})
      env = makeDataDir({files: 1}).env
      const template = (await archiveOf(lib)).path
      dir = path.join(makeTempDir('vpo-hostile'), HOSTILE_DIR)
      archive = plantBackup(template, dir, 'vpo-library-2024-08-01T000000Z.tar.gz', {vpo_version: HOSTILE})
      const older = (await archiveOf(makeDataDir({files: 20, walFiles: 0, schemaVersion: 26}))).path
      plantBackup(older, dir, 'vpo-library-2024-08-02T000000Z.tar.gz', {vpo_version: HOSTILE})
      plantBackup(template, dir, 'vpo-library-2024-08-03T000000Z.tar.gz', {vpo_version: HOSTILE, schema_version: 99})
    })

    it('library:backups: the directory name is escaped; JSON keeps it exactly', async () => {
      const human = await runCliChecked(['library:backups', '--path', dir])
      expect(human.code).to.equal(0)
      expectInert(human)
      expect(human.stdout).to.include('vpo-library-2024-08-01T000000Z.tar.gz')
      const empty = await runCliChecked(['library:backups', '--path', path.join(dir, 'none\u001B]0;t\u0007')])
      expectInert(empty)
      expect(empty.stdout).to.include(String.raw`bkp\x1b[2J\r\nChecksum: verified\x9d/none\x1b]0;t\x07`)
      const json = await listJson(dir)
      expect(json.directory).to.equal(dir)
      expect(json.backups.map((entry) => entry.path)).to.include(archive)
    })

    it('restore --dry-run: the crafted vpo_version is shown escaped, never as a second Checksum line', async () => {
      const result = await runCliChecked(['library:restore', archive, '--dry-run'], env)
      expect(result.code, result.stderr).to.equal(0)
      expectInert(result)
      expect(result.stdout).to.include(
        String.raw`1.0\x1b]0;pwned title\x07\r\n  Checksum:      verified (sha256)\x9b31m\x85`,
      )
    })

    it('restore --dry-run --json keeps the exact path', async () => {
      const result = await runCliChecked(['library:restore', archive, '--dry-run', '--json'], env)
      expect(result.code, result.stdout).to.equal(0)
      expect(parseJson(result).source_path).to.equal(archive)
    })

    it('restore --dry-run with a warning (older schema): stderr stays inert', async () => {
      const result = await runCliChecked(
        ['library:restore', path.join(dir, 'vpo-library-2024-08-02T000000Z.tar.gz'), '--dry-run'],
        env,
      )
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stderr).to.match(/schema version 26/)
      expectInert(result)
    })

    it('an error naming a hostile path is escaped; in JSON the message keeps the exact path', async () => {
      const tooNew = path.join(dir, 'vpo-library-2024-08-03T000000Z.tar.gz')
      const line = expectHumanError(await runCliChecked(['library:restore', tooNew, '--dry-run'], env), 6)
      expect(rawControls({code: 0, signal: null, stdout: '', stderr: line})).to.deep.equal([])
      expect(line).to.include(String.raw`bkp\x1b[2J\r\nChecksum: verified\x9d`)
      const json = await runCliChecked(['library:restore', tooNew, '--dry-run', '--json'], env)
      expect(expectJsonError(json, 'SCHEMA_TOO_NEW', 6)).to.include(tooNew)
      const missing = path.join(dir, 'no\u001B]0;x\u0007such.tar.gz')
      const gone = await runCliChecked(['library:restore', missing, '--dry-run'], env)
      expect(gone.code).to.equal(1)
      expect(rawControls(gone)).to.deep.equal([])
    })
  })
})
