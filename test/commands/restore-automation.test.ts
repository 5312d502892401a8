/**
 * library:restore for scripts and containers: --latest, --if-db-not-exists, --if-backup-exists, on
 * real libraries and real archives.
 */
import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'

import type {RestoreJson, RestoreSkippedJson} from '../../src/cli/json-results.js'

import {copyWithCreatedAt, createdAtAgo, fileFacts, regularName} from '../helpers/backup-copies.js'
import {type CliResult, parseJson} from '../helpers/cli.js'
import {expectHumanError, expectJsonError, runCliChecked} from '../helpers/expectations.js'
import {archiveOf, type DataDir, dataDirAt, libraryContent, makeDataDir, treeState} from '../helpers/libraries.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

const HOUR = 3_600_000

function skipped(result: CliResult): RestoreSkippedJson {
  expect(result.code, result.stderr).to.equal(0)
  const body = parseJson(result) as unknown as RestoreSkippedJson
  expect(Object.keys(body).sort()).to.deep.equal(['reason', 'restored', 'success'])
  expect(body).to.include({success: true, restored: false})
  return body
}

describe('library:restore for automation', function () {
  this.timeout(120_000)
  /** The library the backups hold. */
  let source: DataDir
  let sourceArchive: string
  let sourceDigest: string
  /** A different library, for safety backups and decoys. */
  let other: DataDir
  let otherArchive: string

  before(async () => {
    source = makeDataDir({files: 400})
    sourceArchive = (await archiveOf(source)).path
    sourceDigest = libraryContent(source.databasePath).digest
    other = makeDataDir({files: 250})
    otherArchive = (await archiveOf(other)).path
  })

  after(() => cleanupTempDirs())

  /**
   * A backup directory as a restore leaves it: the good regular backup 3 hours old, then a newer
   * regular one that is cut short, then a newer safety backup of another library.
   */
  function backupDirectory(dir = makeTempDir('vpo-latest')): {
    dir: string
    good: string
    safety: string
    truncated: string
  } {
    fs.mkdirSync(dir, {recursive: true})
    const goodAt = createdAtAgo(3 * HOUR)
    const good = path.join(dir, regularName(goodAt))
    copyWithCreatedAt(sourceArchive, good, goodAt)
    const older = createdAtAgo(30 * HOUR)
    copyWithCreatedAt(otherArchive, path.join(dir, regularName(older)), older)
    const truncatedAt = createdAtAgo(2 * HOUR)
    const truncated = path.join(dir, regularName(truncatedAt))
    copyWithCreatedAt(sourceArchive, truncated, truncatedAt)
    fs.truncateSync(truncated, Math.floor(fs.statSync(truncated).size / 2))
    const safetyAt = createdAtAgo(HOUR)
    const safety = path.join(dir, regularName(safetyAt, '-pre-restore'))
    copyWithCreatedAt(otherArchive, safety, safetyAt)
    return {dir, good, safety, truncated}
  }

  /** A data directory with no library in it yet (a container's first start). */
  function emptyDataDir(): DataDir {
    return dataDirAt(path.join(makeTempDir('vpo-empty'), 'vpo'), source.summary)
  }

  describe('--latest', () => {
    it('restores the newest readable regular backup, skipping a newer damaged one and a newer safety backup', async () => {
      const target = makeDataDir({files: 100, walFiles: 0})
      const {good} = backupDirectory(target.backupDir)
      const result = await runCliChecked(['library:restore', '--latest', '--yes', '--json'], target.env)
      expect(result.code, result.stderr).to.equal(0)
      const body = parseJson(result) as unknown as RestoreJson
      expect(body.source_path).to.equal(good)
      expect(body.checksum_verified).to.equal(true)
      expect(libraryContent(target.databasePath).digest).to.equal(sourceDigest)
      // The restore's own safety backup, now the newest file there, is not what --latest restores next.
      expect(body.safety_backup_path).to.match(/-pre-restore\.tar\.gz$/)
      const again = await runCliChecked(['library:restore', '--latest', '--dry-run', '--json'], target.env)
      expect((parseJson(again) as unknown as RestoreJson).source_path).to.equal(good)
    })

    it('--latest --path takes it from another directory', async () => {
      const target = makeDataDir({files: 100, walFiles: 0})
      const {dir, good} = backupDirectory()
      const human = await runCliChecked(
        ['library:restore', '--latest', '--path', dir, '--yes', '--no-safety-backup'],
        target.env,
      )
      expect(human.code, human.stderr).to.equal(0)
      expect(human.stdout).to.include(`Restored from: ${good}`)
      expect(libraryContent(target.databasePath).digest).to.equal(sourceDigest)
      expect(fs.existsSync(target.backupDir)).to.equal(false)
    })

    it('with nothing readable: exit 1 BACKUP_NOT_FOUND, library untouched', async () => {
      const target = makeDataDir({files: 100, walFiles: 0})
      const dir = makeTempDir('vpo-unreadable')
      fs.writeFileSync(path.join(dir, regularName(createdAtAgo(HOUR))), 'not an archive')
      const facts = fileFacts([target.databasePath])
      expect(
        expectJsonError(
          await runCliChecked(['library:restore', '--latest', '--path', dir, '--yes', '--json'], target.env),
          'BACKUP_NOT_FOUND',
          1,
        ),
      ).to.include(dir)
      expect(fileFacts([target.databasePath])).to.deep.equal(facts)
    })

    it('--latest with a BACKUP_FILE, or --path without --latest, is a usage error (exit 2)', async () => {
      const target = makeDataDir({files: 100, walFiles: 0})
      expectHumanError(await runCliChecked(['library:restore', '--latest', sourceArchive, '--yes'], target.env), 2)
      expectJsonError(
        await runCliChecked(
          ['library:restore', sourceArchive, '--path', path.dirname(sourceArchive), '--yes', '--json'],
          target.env,
        ),
        'USAGE_ERROR',
        2,
      )
      expectHumanError(await runCliChecked(['library:restore', '--yes'], target.env), 2)
      // --if-* never turn a usage mistake into exit 0.
      expectHumanError(
        await runCliChecked(['library:restore', '--yes', '--if-backup-exists', '--if-db-not-exists'], target.env),
        2,
      )
      expectHumanError(
        await runCliChecked(['library:restore', '--latest', sourceArchive, '--yes', '--if-db-not-exists'], target.env),
        2,
      )
    })
  })

  describe('--if-db-not-exists', () => {
    it('exits 0 doing nothing when a library exists', async () => {
      const target = makeDataDir({files: 100})
      const files = [target.databasePath, `${target.databasePath}-wal`, `${target.databasePath}-shm`]
      const facts = fileFacts(files)
      const tree = treeState(target.dataDir)
      const human = await runCliChecked(['library:restore', sourceArchive, '--yes', '--if-db-not-exists'], target.env)
      expect(human.code, human.stderr).to.equal(0)
      expect(human.stdout).to.equal(
        `A library already exists at ${target.databasePath}; nothing was restored (--if-db-not-exists).\n`,
      )
      const body = skipped(
        await runCliChecked(['library:restore', '--latest', '--yes', '--if-db-not-exists', '--json'], target.env),
      )
      expect(body.reason).to.include(target.databasePath)
      expect(fileFacts(files)).to.deep.equal(facts)
      expect(treeState(target.dataDir)).to.deep.equal(tree)
    })

    it('restores on a data directory with no library yet', async () => {
      const target = emptyDataDir()
      const result = await runCliChecked(['library:restore', sourceArchive, '--if-db-not-exists', '--json'], target.env)
      expect(result.code, result.stderr).to.equal(0)
      const body = parseJson(result) as unknown as RestoreJson
      expect(body).to.include({
        source_path: sourceArchive,
        database_path: target.databasePath,
        safety_backup_path: null,
      })
      expect(libraryContent(target.databasePath).digest).to.equal(sourceDigest)
    })
  })

  describe('--if-backup-exists', () => {
    let target: DataDir
    let facts: Record<string, string>

    before(() => {
      target = makeDataDir({files: 100, walFiles: 0})
      facts = fileFacts([target.databasePath])
    })

    afterEach(() => {
      expect(fileFacts([target.databasePath])).to.deep.equal(facts)
      expect(fs.existsSync(target.backupDir)).to.equal(false)
    })

    it('a missing backup directory: exit 0, nothing done (and exit 1 without the flag)', async () => {
      const body = skipped(
        await runCliChecked(['library:restore', '--latest', '--yes', '--if-backup-exists', '--json'], target.env),
      )
      expect(body.reason).to.equal(
        `No readable backup found in ${target.backupDir}; nothing was restored (--if-backup-exists).`,
      )
      expectHumanError(await runCliChecked(['library:restore', '--latest', '--yes'], target.env), 1)
    })

    it('an empty directory', async () => {
      const dir = makeTempDir('vpo-none')
      const human = await runCliChecked(
        ['library:restore', '--latest', '--path', dir, '--yes', '--if-backup-exists'],
        target.env,
      )
      expect(human.code, human.stderr).to.equal(0)
      expect(human.stdout).to.equal(`No readable backup found in ${dir}; nothing was restored (--if-backup-exists).\n`)
    })

    it('only unreadable backups', async () => {
      const dir = makeTempDir('vpo-unreadable')
      const name = path.join(dir, regularName(createdAtAgo(HOUR)))
      fs.copyFileSync(sourceArchive, name)
      fs.truncateSync(name, 3000)
      skipped(
        await runCliChecked(
          ['library:restore', '--latest', '--path', dir, '--yes', '--if-backup-exists', '--json'],
          target.env,
        ),
      )
    })

    it('a named file that does not exist', async () => {
      const missing = path.join(makeTempDir('vpo-none'), 'vpo-library-2026-01-01T000000Z.tar.gz')
      const body = skipped(
        await runCliChecked(['library:restore', missing, '--yes', '--if-backup-exists', '--json'], target.env),
      )
      expect(body.reason).to.equal(`Backup file ${missing} does not exist; nothing was restored (--if-backup-exists).`)
    })

    it('a named file that exists but is damaged is still an error (exit 3), not "no backup"', async () => {
      const damaged = path.join(makeTempDir('vpo-damaged'), 'library.tar.gz')
      fs.writeFileSync(damaged, fs.readFileSync(sourceArchive).subarray(0, 5000))
      expectJsonError(
        await runCliChecked(['library:restore', damaged, '--yes', '--if-backup-exists', '--json'], target.env),
        'INVALID_ARCHIVE',
        3,
      )
    })
  })

  describe('a container entrypoint: restore --latest --yes --if-db-not-exists --if-backup-exists', () => {
    const entrypoint = (dir: string) => [
      'library:restore',
      '--latest',
      '--path',
      dir,
      '--yes',
      '--if-db-not-exists',
      '--if-backup-exists',
    ]

    it('first start with backups: restores; every later start: does nothing', async () => {
      const target = emptyDataDir()
      const {dir, good} = backupDirectory()
      const backups = treeState(dir)
      const first = await runCliChecked(entrypoint(dir), target.env)
      expect(first.code, first.stderr).to.equal(0)
      expect(first.stdout).to.include(`Restored from: ${good}`)
      expect(first.stdout).to.include('Safety backup: none')
      expect(libraryContent(target.databasePath).digest).to.equal(sourceDigest)
      const facts = fileFacts([target.databasePath])
      const second = await runCliChecked(entrypoint(dir), target.env)
      expect(second.code, second.stderr).to.equal(0)
      expect(second.stdout).to.equal(
        `A library already exists at ${target.databasePath}; nothing was restored (--if-db-not-exists).\n`,
      )
      expect(fileFacts([target.databasePath])).to.deep.equal(facts)
      expect(treeState(dir)).to.deep.equal(backups)
    })

    it('first start without any backup: exit 0, and no library or directory is created', async () => {
      const target = emptyDataDir()
      const dir = path.join(makeTempDir('vpo-none'), 'backups')
      const body = skipped(await runCliChecked([...entrypoint(dir), '--json'], target.env))
      expect(body.reason).to.include(dir)
      expect(fs.existsSync(target.dataDir)).to.equal(false)
      expect(fs.existsSync(dir)).to.equal(false)
    })
  })
})
