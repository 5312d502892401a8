/**
 * Plan, then apply (issue 18 item 5), for prune, copy and backup: a plan changes nothing, applying
 * it does what it reported and nothing else, and a plan that went stale (another process removed
 * or added backups in between) is carried out without touching anything the plan did not list.
 * Real archives of a real library, on the in-memory target and in real directories.
 */
import {expect} from 'chai'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

import {writeArchive} from '../../src/lib/archive/index.js'
import {applyBackup, planBackup, previewBackup} from '../../src/lib/backup.js'
import {applyCopy, dryRunReport as copyDryRun, planCopyBetween} from '../../src/lib/copy.js'
import {LibraryBackupError} from '../../src/lib/errors.js'
import {applyPrune, NOT_IN_PLAN, planPrune, dryRunReport as pruneDryRun} from '../../src/lib/prune.js'
import {backupFileName} from '../../src/lib/repository/backup-names.js'
import {listBackups} from '../../src/lib/repository/listing.js'
import {MemoryTarget} from '../../src/lib/storage/memory.js'
import {CURRENT_SCHEMA_VERSION} from '../fixtures/library-generator.js'
import {type DataDir, makeDataDir, treeState} from '../helpers/libraries.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

const DAY = 86_400_000

/** Every name in the target with a digest of its bytes: equal before and after means nothing changed. */
async function contents(target: MemoryTarget): Promise<Record<string, string>> {
  const state: Record<string, string> = {}
  for (const entry of await target.list(() => true)) {
    const bytes = await target.readHead(entry.name, entry.sizeBytes)
    state[entry.name] = crypto.createHash('sha256').update(bytes).digest('hex')
  }

  return state
}

describe('plan, then apply', function () {
  this.timeout(60_000)
  let library: DataDir
  /** Nightly backups of the library, newest first: `{name, bytes}` made yesterday, the day before, … */
  let nightlies: Array<{bytes: Buffer; name: string}>

  before(async () => {
    library = makeDataDir({files: 40, walFiles: 0})
    const dir = makeTempDir('vpo-plan-archives')
    nightlies = []
    for (let day = 1; day <= 6; day++) {
      const createdAt = new Date(Date.now() - day * DAY)
      const archivePath = path.join(dir, `${day}.tar.gz`)
      await writeArchive({
        archivePath,
        databasePath: library.databasePath,
        knownMetadata: {
          vpo_version: '0.1.0',
          schema_version: CURRENT_SCHEMA_VERSION,
          created_at: createdAt.toISOString().replace(/\.\d{3}Z$/, 'Z'),
          file_count: library.summary.fileCount,
          total_library_size_bytes: 1,
        },
      })
      nightlies.push({name: backupFileName(createdAt), bytes: fs.readFileSync(archivePath)})
    }
  })

  after(() => cleanupTempDirs())

  function targetWith(count: number, location?: string): MemoryTarget {
    const target = new MemoryTarget(location)
    for (const {name, bytes} of nightlies.slice(0, count)) target.put(name, bytes)
    return target
  }

  const names = (from: number, to?: number) => nightlies.slice(from, to).map(({name}) => name)

  describe('prune', () => {
    it('a plan removes nothing; applying it removes exactly what the plan reported', async () => {
      const target = targetWith(6)
      const before = await contents(target)
      const plan = await planPrune(target, {last: 2})
      expect(await contents(target), 'the plan changed nothing').to.deep.equal(before)
      const planned = pruneDryRun(plan)
      expect(planned.removed).to.deep.equal(names(2).map((name) => target.addressOf(name)))

      const report = await applyPrune(plan)
      expect(report.dryRun).to.equal(false)
      expect(report.removed).to.deep.equal(planned.removed)
      expect(report.kept).to.deep.equal(planned.kept)
      expect(Object.keys(await contents(target)).sort()).to.deep.equal(names(0, 2).sort())
    })

    it('a backup removed by someone else after the plan: apply decides again under the lock and keeps what the rules now keep', async () => {
      const target = targetWith(6)
      const plan = await planPrune(target, {last: 3})
      expect(pruneDryRun(plan).removed).to.deep.equal(names(3).map((name) => target.addressOf(name)))
      // Another prune (or a person) removes the second newest while this one waits.
      await target.remove(nightlies[1].name)

      const report = await applyPrune(plan)
      // Removing all the plan chose would leave two; three newest are kept: the fourth now counts.
      expect(report.removed).to.deep.equal(names(4).map((name) => target.addressOf(name)))
      expect(report.kept).to.deep.equal([0, 2, 3].map((i) => target.addressOf(nightlies[i].name)))
      expect(Object.keys(await contents(target)).sort()).to.deep.equal([0, 2, 3].map((i) => nightlies[i].name).sort())
    })

    it('a backup that arrived after the plan is never removed by it, though the rules would remove it now', async () => {
      const target = targetWith(3)
      const plan = await planPrune(target, {last: 2})
      const late = nightlies[5]
      target.put(late.name, late.bytes)

      const report = await applyPrune(plan)
      expect(report.removed).to.deep.equal([target.addressOf(nightlies[2].name)])
      const lateDecision = report.decisions.find((decision) => decision.backup.filename === late.name)
      expect(lateDecision).to.deep.include({keep: true, reasons: [NOT_IN_PLAN]})
      expect(Object.keys(await contents(target)).sort()).to.deep.equal([...names(0, 2), late.name].sort())
    })

    it('a backup that could not be read while listing stops the plan, unless it is gone: then it was removed, not unread', async () => {
      const target = targetWith(4)
      const listing = await listBackups(target)
      const failedRead = (i: number) => ({
        ...listing,
        backups: listing.backups.map((backup, at) =>
          at === i ? {...backup, readError: new LibraryBackupError('IO_ERROR', 'the store did not answer')} : backup,
        ),
      })
      const refused = await planPrune(target, {last: 1}, {listing: failedRead(1)}).catch((error: Error) => error)
      expect((refused as Error).message).to.equal(
        `${target.addressOf(nightlies[1].name)} could not be read (the store did not answer), so nothing was pruned`,
      )

      // Another prune removed it between the listing and the reading of it.
      await target.remove(nightlies[1].name)
      const plan = await planPrune(target, {last: 1}, {listing: failedRead(1)})
      expect(plan.decisions.map((decision) => decision.backup.filename)).to.deep.equal(
        [0, 2, 3].map((i) => nightlies[i].name),
      )
      expect((await applyPrune(plan)).removed).to.deep.equal([2, 3].map((i) => target.addressOf(nightlies[i].name)))
    })
  })

  describe('copy', () => {
    it('a plan copies nothing; applying it copies exactly what the plan reported, byte for byte', async () => {
      const from = targetWith(4, 'memory://nas/')
      const to = new MemoryTarget('memory://usb/')
      to.put(nightlies[1].name, nightlies[1].bytes)
      const before = {from: await contents(from), to: await contents(to)}

      const plan = await planCopyBetween(from, to, {archives: []})
      expect({from: await contents(from), to: await contents(to)}, 'the plan changed nothing').to.deep.equal(before)
      const planned = copyDryRun(plan)
      expect(planned.copied.map((entry) => entry.name)).to.deep.equal([0, 2, 3].map((i) => nightlies[i].name))
      expect(planned.skipped.map((entry) => entry.name)).to.deep.equal([nightlies[1].name])

      const report = await applyCopy(plan)
      expect(report.dryRun).to.equal(false)
      expect(report.copied.map(({name, to: where}) => ({name, to: where}))).to.deep.equal(
        planned.copied.map(({name, to: where}) => ({name, to: where})),
      )
      expect(report.skipped).to.deep.equal(planned.skipped)
      expect(await contents(to)).to.deep.equal(await contents(from))
    })

    it('a source removed after the plan is reported not copied, the rest still are, and a backup added since is left for the next run', async () => {
      const from = targetWith(3, 'memory://nas/')
      const to = new MemoryTarget('memory://usb/')
      const plan = await planCopyBetween(from, to, {archives: []})
      await from.remove(nightlies[1].name)
      from.put(nightlies[4].name, nightlies[4].bytes)

      const report = await applyCopy(plan)
      expect(report.copied.map((entry) => entry.name)).to.deep.equal([nightlies[0].name, nightlies[2].name])
      expect(report.failed).to.have.lengthOf(1)
      expect(report.failed[0].name).to.equal(nightlies[1].name)
      expect(report.failed[0].error.code).to.equal('BACKUP_NOT_FOUND')
      expect(report.failed[0].error.message).to.equal(
        `${from.addressOf(nightlies[1].name)} was removed before it could be copied`,
      )
      expect(report.stoppedBy).to.equal(undefined)
      expect(Object.keys(await contents(to)).sort()).to.deep.equal([nightlies[0].name, nightlies[2].name].sort())
    })
  })

  describe('backup', () => {
    it('a plan and its preview create nothing; applying the plan writes the archive the preview named', async () => {
      const mine = makeDataDir({files: 40, walFiles: 3})
      const output = path.join(mine.dataDir, 'nightly', 'library.tar.gz')
      fs.mkdirSync(path.dirname(output))
      const before = treeState(mine.dataDir)
      const options = {databasePath: mine.databasePath, backupDir: mine.backupDir, output, vpoVersion: '0.1.0'}

      const plan = await planBackup(options)
      const preview = await previewBackup(plan)
      expect(treeState(mine.dataDir), 'the plan and the preview changed nothing').to.deep.equal(before)
      expect(preview.outputPath).to.equal(output)
      expect(preview.stats.fileCount).to.equal(mine.summary.fileCount)

      const result = await applyBackup(plan)
      expect(result.path).to.equal(output)
      expect(result.metadata.file_count).to.equal(preview.stats.fileCount)
      expect(fs.readdirSync(path.dirname(output))).to.deep.equal(['library.tar.gz'])
      expect(fs.existsSync(mine.backupDir), 'nothing in the backup directory the plan did not choose').to.equal(false)
    })
  })
})
