/**
 * library:verify on real archives: made by the CLI, rewritten by Python's tarfile to be older, and
 * damaged the ways disks and networks damage files.
 */
import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'

import type {VerifyJson} from '../../src/cli/json-results.js'

import {
  copyWithCreatedAt,
  createdAtAgo,
  fileFacts,
  flipByte,
  gzipMemberOffsets,
  regularName,
} from '../helpers/backup-copies.js'
import {type CliResult, parseJson} from '../helpers/cli.js'
import {expectHumanError, expectJsonError, runCliChecked} from '../helpers/expectations.js'
import {archiveOf, type DataDir, makeDataDir, treeState} from '../helpers/libraries.js'
import {extractArchiveMember, writePythonArchive} from '../helpers/python-archives.js'
import {python} from '../helpers/python.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

const HOUR = 3_600_000

function verifyJson(result: CliResult): VerifyJson {
  return parseJson(result) as unknown as VerifyJson
}

function byName(body: VerifyJson): Record<string, VerifyJson['backups'][number]> {
  return Object.fromEntries(body.backups.map((entry) => [path.basename(entry.path), entry]))
}

const DAMAGE_PAGE = `
import sys
b = bytearray(open(sys.argv[1], 'rb').read())
size = int.from_bytes(b[16:18], 'big')
page = len(b) // size // 2
b[page * size + 8:page * size + 40] = b'\\xff' * 32
open(sys.argv[2], 'wb').write(b)
`

describe('library:verify', function () {
  this.timeout(120_000)
  let lib: DataDir
  /** A real archive made by the CLI a moment ago. */
  let fresh: string
  /** Its database, extracted by Python (for archives built around it). */
  let database: string
  let metadata: Record<string, unknown>

  before(async () => {
    lib = makeDataDir()
    fresh = (await archiveOf(lib)).path
    const scratch = makeTempDir('vpo-verify-db')
    database = path.join(scratch, 'library.db')
    extractArchiveMember(fresh, 'library.db', database)
    const meta = path.join(scratch, 'meta.json')
    extractArchiveMember(fresh, 'backup_metadata.json', meta)
    metadata = JSON.parse(fs.readFileSync(meta, 'utf8')) as Record<string, unknown>
  })

  after(() => cleanupTempDirs())

  /** A backup directory holding copies of the fresh archive, each made `hoursAgo` before now. */
  function directoryOf(hoursAgo: number[]): {dir: string; names: string[]} {
    const dir = makeTempDir('vpo-verify-dir')
    const names = hoursAgo.map((hours) => {
      const createdAt = createdAtAgo(hours * HOUR)
      const name = regularName(createdAt)
      copyWithCreatedAt(fresh, path.join(dir, name), createdAt)
      return name
    })
    return {dir, names}
  }

  describe('a directory where every backup is good', () => {
    let dir: string
    let names: string[]
    let human: CliResult
    let json: CliResult
    let stateBefore: Record<string, string>

    before(async () => {
      ;({dir, names} = directoryOf([1, 30]))
      // VPO's Python tool: library.db first, metadata last, no sha256.
      const pyMetadata: Record<string, unknown> = {...metadata, created_at: createdAtAgo(50 * HOUR)}
      delete pyMetadata.database_sha256
      const pyName = `vpo-library-${(pyMetadata.created_at as string).replaceAll(':', '-')}.tar.gz`
      writePythonArchive(database, path.join(dir, pyName), pyMetadata)
      names.push(pyName)
      // The CLI's own, as written.
      const own = path.basename(fresh)
      fs.copyFileSync(fresh, path.join(dir, own))
      names.unshift(own)
      stateBefore = treeState(dir)
      human = await runCliChecked(['library:verify', '--path', dir])
      json = await runCliChecked(['library:verify', '--path', dir, '--json'])
    })

    it('exits 0 and lists each backup as ok, newest first', () => {
      expect(human.code, human.stderr).to.equal(0)
      expect(human.stderr).to.equal('')
      const lines = human.stdout.trimEnd().split('\n')
      expect(lines[0]).to.equal(`Checked 4 backups in ${dir}`)
      expect(lines.slice(1, 5).map((line) => line.split(/\s+/)[2])).to.deep.equal(
        names.map((name) => path.join(dir, name)),
      )
      for (const line of lines.slice(1, 5))
        expect(line).to.match(/^ {2}ok {6}\S+ \(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ, 1,525 files(, sha256 verified)?\)$/)
      expect(lines[5]).to.equal(`Newest good backup: ${path.join(dir, names[0])} (${metadata.created_at})`)
    })

    it('--json has the VerifyJson shape', () => {
      expect(json.code, json.stderr).to.equal(0)
      const body = verifyJson(json)
      expect(Object.keys(body).sort()).to.deep.equal(['backups', 'directory', 'newest_good', 'quick', 'success'])
      expect(body.success).to.equal(true)
      expect(body.quick).to.equal(false)
      expect(body.directory).to.equal(dir)
      for (const entry of body.backups)
        expect(Object.keys(entry).sort()).to.deep.equal(['checksum_verified', 'created_at', 'ok', 'path'])
      expect(body.backups.map((entry) => path.basename(entry.path))).to.deep.equal(names)
      expect(body.backups.map((entry) => entry.checksum_verified)).to.deep.equal([true, true, true, false])
      expect(body.newest_good).to.deep.equal({path: path.join(dir, names[0]), created_at: metadata.created_at})
    })

    it('writes nothing in the backup directory', () => {
      expect(treeState(dir)).to.deep.equal(stateBefore)
      expect(fs.readdirSync(dir).sort()).to.deep.equal([...names].sort())
    })
  })

  describe('damaged archives', () => {
    let dir: string
    let human: CliResult
    let json: CliResult
    let quick: CliResult
    const good = regularName(createdAtAgo(10 * HOUR))
    const flipped = regularName(createdAtAgo(9 * HOUR))
    const truncated = regularName(createdAtAgo(8 * HOUR))
    const quickCheckOnly = regularName(createdAtAgo(7 * HOUR))
    const appended = regularName(createdAtAgo(6 * HOUR))
    const badHeader = regularName(createdAtAgo(5 * HOUR))
    const flippedIndexed = regularName(createdAtAgo(4 * HOUR))

    before(async () => {
      dir = makeTempDir('vpo-verify-damaged')
      const at = (name: string) => path.join(dir, name)
      const createdOf = (name: string) =>
        `${name.slice(12, 22)}T${name.slice(23, 25)}:${name.slice(25, 27)}:${name.slice(27, 29)}Z`
      for (const name of [good, flipped, truncated, appended, badHeader])
        copyWithCreatedAt(fresh, at(name), createdOf(name))
      // A byte in the middle of the compressed database: framing intact, content wrong.
      flipByte(at(flipped), Math.floor(fs.statSync(at(flipped)).size / 2))
      fs.truncateSync(at(truncated), Math.floor(fs.statSync(at(truncated)).size * 0.7))
      fs.appendFileSync(at(appended), Buffer.from('not part of the archive'))
      // Rewritten by tarfile the archive is one gzip member; take the CLI's own multi-member one
      // for a damaged member header.
      fs.copyFileSync(fresh, at(badHeader))
      const offsets = gzipMemberOffsets(at(badHeader))
      expect(offsets.length, 'the CLI writes several gzip members').to.be.greaterThan(2)
      flipByte(at(badHeader), offsets[2] + 1)
      // The same archive with a byte flipped inside the database's deflate stream.
      fs.copyFileSync(fresh, at(flippedIndexed))
      flipByte(at(flippedIndexed), Math.floor((offsets[2] + offsets[3]) / 2))
      // A database whose bytes match its sha256 and size, and that only quick_check finds damaged.
      const damagedDb = path.join(makeTempDir('vpo-damaged-db'), 'library.db')
      expect(python(DAMAGE_PAGE, [database, damagedDb]).status).to.equal(0)
      const sha = python(`import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())`, [
        damagedDb,
      ]).stdout.trim()
      writePythonArchive(damagedDb, at(quickCheckOnly), {
        ...metadata,
        created_at: createdOf(quickCheckOnly),
        database_sha256: sha,
      })
      human = await runCliChecked(['library:verify', '--path', dir])
      json = await runCliChecked(['library:verify', '--path', dir, '--json'])
      quick = await runCliChecked(['library:verify', '--path', dir, '--quick', '--json'])
    })

    it('exits 3, lists each failed one with why, and the good one as ok', () => {
      expect(human.code, human.stderr).to.equal(3)
      const lines = human.stdout.trimEnd().split('\n')
      expect(lines[0]).to.equal(`Checked 7 backups in ${dir}`)
      const failed = lines.filter((line) => line.startsWith('  FAILED  '))
      expect(failed).to.have.lengthOf(6)
      for (const name of [flipped, truncated, quickCheckOnly, appended, badHeader, flippedIndexed]) {
        expect(
          failed.some((line) => line.includes(path.join(dir, name))),
          name,
        ).to.equal(true)
      }

      expect(lines.filter((line) => line.startsWith('  ok      '))).to.deep.equal([
        `  ok      ${path.join(dir, good)} (${createdAtFromName(good)}, 1,525 files, sha256 verified)`,
      ])
      expect(human.stderr).to.equal(
        'Error: 6 of 7 backups did not verify; make a new backup now (vpo library:backup), and keep or replace the failed ones as you see fit.\n',
      )
    })

    it('--json says why each one failed', () => {
      expect(json.code).to.equal(3)
      const body = verifyJson(json) as VerifyJson & {error: {code: string; exit_code: number}}
      expect(body.success).to.equal(false)
      expect(body.error.code).to.equal('INVALID_ARCHIVE')
      expect(body.error.exit_code).to.equal(3)
      const entries = byName(body)
      expect(entries[good]).to.include({ok: true, checksum_verified: true})
      expect(entries[flipped].problem).to.match(/gzip data is corrupted|checksum|sha256/)
      expect(entries[truncated].problem).to.match(/truncated|ends early/)
      expect(entries[appended].problem).to.match(/after the end|gzip data is corrupted/)
      expect(entries[flippedIndexed].problem).to.match(/gzip data is corrupted/)
      expect(entries[quickCheckOnly].problem).to.match(/quick_check|cannot be used|malformed/)
      expect(entries[badHeader].problem).to.be.a('string')
      for (const name of [flipped, truncated, quickCheckOnly, appended, badHeader, flippedIndexed])
        expect(entries[name].ok, name).to.equal(false)
      expect(body.newest_good).to.deep.equal({path: path.join(dir, good), created_at: createdAtFromName(good)})
    })

    it('--quick finds truncation, appended bytes and a damaged member header, not damage inside the database', () => {
      expect(quick.code).to.equal(3)
      const entries = byName(verifyJson(quick))
      expect(verifyJson(quick).quick).to.equal(true)
      expect(entries[truncated].ok).to.equal(false)
      expect(entries[appended].ok).to.equal(false)
      expect(entries[badHeader].ok).to.equal(false)
      // A single-member archive (as tarfile writes it) has no index: it is read through, CRC included.
      expect(entries[flipped].ok).to.equal(false)
      // What --quick does not promise (see its description): the CLI's own layout is checked from
      // its member headers and trailers, and a member's CRC is only checked when it is inflated.
      expect(entries[flippedIndexed].ok).to.equal(true)
      expect(entries[quickCheckOnly].ok).to.equal(true)
      expect(entries[good]).to.include({ok: true, checksum_verified: false})
    })
  })

  describe('--latest and --max-age', () => {
    it('--latest checks only the newest regular backup, not a newer safety backup', async () => {
      const {dir, names} = directoryOf([3, 20])
      // A safety backup made by a restore after them, and damaged: --latest must not look at it.
      const safety = regularName(createdAtAgo(HOUR), '-pre-restore')
      fs.writeFileSync(path.join(dir, safety), 'not an archive')
      const result = await runCliChecked(['library:verify', '--path', dir, '--latest', '--json'])
      expect(result.code, result.stdout).to.equal(0)
      expect(verifyJson(result).backups.map((entry) => path.basename(entry.path))).to.deep.equal([names[0]])
    })

    it('--latest fails (exit 3) when the newest regular backup is damaged, even if an older one is good', async () => {
      const {dir, names} = directoryOf([3, 20])
      fs.truncateSync(path.join(dir, names[0]), 1000)
      const result = await runCliChecked(['library:verify', '--path', dir, '--latest', '--json'])
      expect(result.code).to.equal(3)
      const body = verifyJson(result)
      expect(body.backups.map((entry) => [path.basename(entry.path), entry.ok])).to.deep.equal([[names[0], false]])
      expect(body.newest_good).to.equal(null)
    })

    it('--max-age 26h exits 0 when the newest good backup is fresh', async () => {
      const {dir} = directoryOf([25, 72])
      const result = await runCliChecked(['library:verify', '--path', dir, '--max-age', '26h', '--json'])
      expect(result.code, result.stdout).to.equal(0)
      expect(verifyJson(result).fresh).to.equal(true)
      const latest = await runCliChecked(['library:verify', '--path', dir, '--latest', '--max-age', '26h'])
      expect(latest.code, latest.stderr).to.equal(0)
    })

    it('--max-age 26h exits 9 BACKUP_STALE when the newest good backup is older', async () => {
      const {dir, names} = directoryOf([27, 72])
      const json = await runCliChecked(['library:verify', '--path', dir, '--max-age', '26h', '--json'])
      expect(json.code).to.equal(9)
      const body = verifyJson(json) as VerifyJson & {error: {code: string; hint: string}}
      expect(body.fresh).to.equal(false)
      expect(body.error.code).to.equal('BACKUP_STALE')
      expect(body.error.hint).to.match(/library:backup/)
      expect(body.backups.every((entry) => entry.ok)).to.equal(true)
      const human = await runCliChecked(['library:verify', '--path', dir, '--latest', '--max-age', '26h'])
      expect(human.code).to.equal(9)
      expect(human.stderr).to.include(`The newest good backup, ${path.join(dir, names[0])}, was made at`)
      expect(human.stderr).to.include('longer ago than 26h')
    })

    it('a fresh safety backup does not make the backups fresh', async () => {
      const {dir} = directoryOf([30])
      const safetyAt = createdAtAgo(HOUR)
      copyWithCreatedAt(fresh, path.join(dir, regularName(safetyAt, '-pre-restore')), safetyAt)
      const result = await runCliChecked(['library:verify', '--path', dir, '--max-age', '26h', '--json'])
      expect(result.code).to.equal(9)
      expect(byName(verifyJson(result))[regularName(safetyAt, '-pre-restore')].ok).to.equal(true)
    })

    it('when the only fresh backup is damaged: exit 3 (it takes precedence over 9), and fresh: false', async () => {
      const {dir, names} = directoryOf([2, 72])
      flipByte(path.join(dir, names[0]), Math.floor(fs.statSync(path.join(dir, names[0])).size / 2))
      const result = await runCliChecked(['library:verify', '--path', dir, '--max-age', '26h', '--json'])
      expect(result.code).to.equal(3)
      const body = verifyJson(result)
      expect(body.fresh).to.equal(false)
      expect(body.newest_good?.path).to.equal(path.join(dir, names[1]))
      // Checked alone, the good old one is stale: 9.
      const old = await runCliChecked(['library:verify', path.join(dir, names[1]), '--max-age', '26h'])
      expect(old.code).to.equal(9)
    })
  })

  describe('explicit BACKUP paths', () => {
    it('checks exactly the archives named, from anywhere', async () => {
      const {dir, names} = directoryOf([1, 2, 3])
      const elsewhere = path.join(makeTempDir('vpo-verify-elsewhere'), 'weekly copy.tar.gz')
      fs.copyFileSync(path.join(dir, names[2]), elsewhere)
      const result = await runCliChecked(['library:verify', path.join(dir, names[1]), elsewhere, '--json'], lib.env)
      expect(result.code, result.stdout).to.equal(0)
      const body = verifyJson(result)
      expect(body).to.not.have.property('directory')
      expect(body.backups.map((entry) => entry.path)).to.deep.equal([path.join(dir, names[1]), elsewhere])
    })

    it('exit 3 when one of them does not verify; the others are still listed ok', async () => {
      const {dir, names} = directoryOf([1, 2])
      fs.truncateSync(path.join(dir, names[0]), 5000)
      const result = await runCliChecked(['library:verify', path.join(dir, names[0]), path.join(dir, names[1])])
      expect(result.code).to.equal(3)
      expect(result.stdout).to.include(`  FAILED  ${path.join(dir, names[0])}`)
      expect(result.stdout).to.include(`  ok      ${path.join(dir, names[1])}`)
    })

    it('with --latest, a usage error (exit 2): --latest chooses from the directory', async () => {
      const {dir, names} = directoryOf([1])
      expectJsonError(
        await runCliChecked(['library:verify', '--latest', path.join(dir, names[0]), '--json']),
        'USAGE_ERROR',
        2,
      )
    })

    it('a named file that does not exist: exit 1 BACKUP_NOT_FOUND', async () => {
      const missing = path.join(makeTempDir('vpo-verify-missing'), 'nope.tar.gz')
      const result = await runCliChecked(['library:verify', missing, '--json'])
      expect(expectJsonError(result, 'BACKUP_NOT_FOUND', 1)).to.include(missing)
    })
  })

  describe('no backup at all', () => {
    it('an empty directory: exit 1 BACKUP_NOT_FOUND, saying where it looked', async () => {
      const dir = makeTempDir('vpo-verify-empty')
      fs.writeFileSync(path.join(dir, 'notes.txt'), 'not a backup')
      const line = expectHumanError(await runCliChecked(['library:verify', '--path', dir]), 1)
      expect(line).to.equal(`Error: No backups found in ${dir}; create one with: vpo library:backup`)
    })

    it('only damaged backups: exit 1, saying why they were not checked', async () => {
      const dir = makeTempDir('vpo-verify-damaged-only')
      fs.copyFileSync(fresh, path.join(dir, regularName(createdAtAgo(HOUR), '-damaged')))
      const line = expectHumanError(await runCliChecked(['library:verify', '--path', dir]), 1)
      expect(line).to.equal(
        `Error: No backups found in ${dir} (1 is a damaged or safety backup, which are not checked); create one with: vpo library:backup`,
      )
    })

    it('a missing directory: exit 1, and nothing is created', async () => {
      const dir = path.join(makeTempDir('vpo-verify-none'), 'backups')
      expectHumanError(await runCliChecked(['library:verify', '--path', dir]), 1)
      expect(fs.existsSync(dir)).to.equal(false)
    })

    it('with --max-age, no backup is the stalest of all: exit 9 BACKUP_STALE', async () => {
      const empty = makeTempDir('vpo-verify-empty')
      expect(
        expectJsonError(
          await runCliChecked(['library:verify', '--path', empty, '--max-age', '26h', '--json']),
          'BACKUP_STALE',
          9,
        ),
      ).to.include(empty)
      const missing = path.join(makeTempDir('vpo-verify-none'), 'backups')
      expectHumanError(await runCliChecked(['library:verify', '--path', missing, '--latest', '--max-age', '26h']), 9)
    })
  })

  it('never touches the live library (bytes, mtime, no lock) while checking the backups beside it', async () => {
    const data = makeDataDir()
    await runCliChecked(['library:backup'], data.env)
    const files = [data.databasePath, `${data.databasePath}-wal`, `${data.databasePath}-shm`]
    const facts = fileFacts(files)
    const library = treeState(data.dataDir)
    const entries = fs.readdirSync(data.dataDir).sort()
    const result = await runCliChecked(['library:verify', '--latest'], data.env)
    expect(result.code, result.stderr).to.equal(0)
    expect(fileFacts(files)).to.deep.equal(facts)
    expect(treeState(data.dataDir)).to.deep.equal(library)
    expect(fs.readdirSync(data.dataDir).sort()).to.deep.equal(entries)
  })
})

/** `vpo-library-2026-02-05T143022Z.tar.gz` → `2026-02-05T14:30:22Z`. */
function createdAtFromName(name: string): string {
  const stamp = name.slice('vpo-library-'.length, 'vpo-library-'.length + 17)
  return `${stamp.slice(0, 13)}:${stamp.slice(13, 15)}:${stamp.slice(15, 17)}Z`
}
