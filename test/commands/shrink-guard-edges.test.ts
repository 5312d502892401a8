/**
 * The shrink guard at its edges, on real libraries: the threshold (exactly 20% is allowed), a
 * library that had no files, one that grows or declines slowly, --max-shrink, and the record in
 * the data directory lost or corrupted.
 */
import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'

import {type CliResult, parseJson} from '../helpers/cli.js'
import {expectHumanError, runCliChecked} from '../helpers/expectations.js'
import {type DataDir, makeDataDir, treeState} from '../helpers/libraries.js'
import {doubleFiles, keepFiles} from '../helpers/library-size.js'
import {inANewSecond} from '../helpers/seconds.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

async function backup(lib: DataDir, extra: string[] = []): Promise<CliResult> {
  return inANewSecond(async () => runCliChecked(['library:backup', '--json', '--keep-last', '1', ...extra], lib.env))
}

function backupsIn(lib: DataDir): string[] {
  return fs.readdirSync(lib.backupDir).sort()
}

describe('shrink guard: edges', function () {
  this.timeout(300_000)

  after(() => cleanupTempDirs())

  it('a drop of exactly 20% is allowed and prunes; one file more is an alarm that prunes nothing', async () => {
    const lib = makeDataDir({files: 1500, walFiles: 0})
    expect((await backup(lib)).code).to.equal(0)
    keepFiles(lib.databasePath, 1200)
    expect(parseJson(await runCliChecked(['library:backup', '--dry-run', '--json'], lib.env)).shrink).to.equal(null)
    const exact = await backup(lib)
    expect(exact.code, exact.stdout).to.equal(0)
    expect(parseJson(exact).pruned).to.have.lengthOf(1)
    keepFiles(lib.databasePath, 959) // 1,200 → 959 is 20.08%
    const preview = await runCliChecked(['library:backup', '--dry-run', '--json'], lib.env)
    expect(preview.code, preview.stderr).to.equal(0)
    expect(parseJson(preview).shrink, 'the dry run says the backup would alarm').to.deep.equal({
      previous_file_count: 1200,
      file_count: 959,
      last_backup_before_drop: path.join(lib.backupDir, backupsIn(lib)[0]),
      max_shrink_percent: 20,
      output_kept: false,
    })
    const over = await backup(lib)
    expect(over.code, over.stdout).to.equal(11)
    expect(parseJson(over).shrink).to.deep.include({previous_file_count: 1200, file_count: 959})
    expect(backupsIn(lib)).to.have.lengthOf(2)
  })

  it('a library that slowly declines, by less than 20% each night, never alarms', async () => {
    const lib = makeDataDir({files: 1500, walFiles: 0})
    for (const count of [1500, 1300, 1100, 950, 800]) {
      keepFiles(lib.databasePath, count)
      const result = await backup(lib)
      expect(result.code, `${count} files: ${result.stdout}`).to.equal(0)
    }

    expect(backupsIn(lib)).to.have.lengthOf(1)
  })

  it('a library that had no files, and one that grows, change nothing', async () => {
    const lib = makeDataDir({files: 1500, walFiles: 0})
    keepFiles(lib.databasePath, 0)
    expect((await backup(lib)).code).to.equal(0)
    expect((await backup(lib)).code, '0 → 0').to.equal(0)
    const empty = makeDataDir({files: 1500, walFiles: 0})
    expect((await backup(empty)).code).to.equal(0)
    doubleFiles(empty.databasePath)
    const grown = await backup(empty)
    expect(grown.code, '1,500 → 3,000').to.equal(0)
    expect(parseJson(grown)).to.include({file_count: 3000})
    keepFiles(empty.databasePath, 0)
    const emptied = await backup(empty)
    expect(emptied.code, '3,000 → 0').to.equal(11)
  })

  it('--max-shrink 100% turns the guard off; --max-shrink 95% allows a 90% drop; a bad value is exit 2 before anything is written', async () => {
    const lib = makeDataDir({files: 1500, walFiles: 0})
    expect((await backup(lib)).code).to.equal(0)
    keepFiles(lib.databasePath, 150)
    const bad = await runCliChecked(['library:backup', '--max-shrink', 'most'], lib.env)
    const before = treeState(lib.backupDir)
    expect(expectHumanError(bad, 2)).to.contain('--max-shrink must be a percentage from 0% to 100%, not most')
    expect(treeState(lib.backupDir)).to.deep.equal(before)
    expect((await backup(lib, ['--max-shrink', '95'])).code).to.equal(0)
    keepFiles(lib.databasePath, 10)
    const off = await backup(lib, ['--max-shrink', '100%'])
    expect(off.code, off.stdout).to.equal(0)
    expect(parseJson(off).pruned).to.have.lengthOf(1)
  })

  it('--output FILE --force onto a backup of the larger library: exit 11 and FILE unchanged, until --accept-shrink', async () => {
    const lib = makeDataDir({files: 1500, walFiles: 0})
    const nightly = path.join(makeTempDir('vpo-nightly'), 'latest.tar.gz')
    const replace = (extra: string[] = []) =>
      runCliChecked(['library:backup', '--output', nightly, '--force', '--json', ...extra], lib.env)
    expect((await replace()).code).to.equal(0)
    keepFiles(lib.databasePath, 1300)
    const within = await replace()
    expect(within.code, within.stdout).to.equal(0)
    expect(parseJson(within)).to.include({file_count: 1300})
    const before = treeState(path.dirname(nightly))

    keepFiles(lib.databasePath, 150)
    const dry = await replace(['--dry-run'])
    expect(parseJson(dry).shrink).to.include({last_backup_before_drop: nightly, output_kept: true})
    const said = await runCliChecked(['library:backup', '--output', nightly, '--force', '--dry-run'], lib.env)
    expect(said.stdout).to.contain(
      `  Shrink guard:   1,300 files in ${nightly}, 150 now (more than --max-shrink 20%): the backup would exit 11 and prune nothing, and leave ${nightly} as it is`,
    )
    const refused = await replace()
    expect(refused.code, refused.stderr).to.equal(11)
    expect((parseJson(refused).error as {message: string}).message).to.equal(
      `The library shrank from 1,300 to 150 files (more than --max-shrink 20%) since ${nightly} was made, so it was not replaced: no backup was written and nothing was pruned`,
    )
    expect(treeState(path.dirname(nightly)), 'the file and its directory as they were').to.deep.equal(before)

    const accepted = await replace(['--accept-shrink'])
    expect(accepted.code, accepted.stderr).to.equal(0)
    expect(parseJson(accepted)).to.include({file_count: 150})
  })

  it('--output FILE --force --copy-to: the copy of FILE kept offsite is not replaced either (exit 11, the primary written)', async () => {
    const lib = makeDataDir({files: 1500, walFiles: 0})
    const nas = makeTempDir('vpo-nas')
    const offsite = makeTempDir('vpo-offsite')
    const args = ['library:backup', '--output', path.join(nas, 'latest.tar.gz'), '--force', '--copy-to', offsite]
    expect((await runCliChecked([...args, '--json'], lib.env)).code).to.equal(0)
    const before = treeState(offsite)

    fs.rmSync(path.join(nas, 'latest.tar.gz')) // a new disk at the primary location
    keepFiles(lib.databasePath, 150)
    const run = await runCliChecked(args, lib.env)
    expect(run.code, run.stderr).to.equal(11)
    expect(run.stderr.replaceAll(/\s+(›\s+)?/g, ' ')).to.contain(
      `but not in ${offsite} (The library shrank from 1,500 to 150 files (more than --max-shrink 20%) since ${path.join(offsite, 'latest.tar.gz')} was made, so it was not replaced)`,
    )
    expect(treeState(offsite), 'the offsite copy as it was').to.deep.equal(before)
    expect(fs.readdirSync(nas)).to.deep.equal(['latest.tar.gz'])
  })

  it('--copy-to: a drop found at a copy place (the primary directory came back empty) is exit 11 and prunes nowhere, until accepted', async () => {
    const lib = makeDataDir({files: 1500, walFiles: 0})
    const offsite = `${makeTempDir('vpo-offsite')}/`
    const nightly = (extra: string[] = []) => backup(lib, ['--copy-to', offsite, ...extra])
    expect((await nightly()).code).to.equal(0)
    expect((await nightly()).code).to.equal(0)
    const full = fs.readdirSync(offsite)
    expect(full).to.have.lengthOf(1)

    // The backup directory's disk was not mounted, and neither were the media drives.
    fs.rmSync(lib.backupDir, {recursive: true})
    keepFiles(lib.databasePath, 150)
    const dropped = await nightly()
    expect(dropped.code, dropped.stdout).to.equal(11)
    expect(parseJson(dropped).shrink).to.deep.include({
      previous_file_count: 1500,
      file_count: 150,
      last_backup_before_drop: path.join(offsite, full[0]),
    })
    expect(fs.readdirSync(offsite), 'nothing pruned offsite').to.include(full[0]).and.have.lengthOf(2)
    expect((await nightly()).code, 'the next night alarms again').to.equal(11)
    expect(fs.readdirSync(offsite)).to.include(full[0])

    const accepted = await nightly(['--accept-shrink'])
    expect(accepted.code, accepted.stdout).to.equal(0)
    expect(fs.readdirSync(offsite)).to.have.lengthOf(1).and.not.include(full[0])
    expect((await nightly()).code, 'the acceptance holds offsite too').to.equal(0)
  })

  it('a lost record changes nothing for backups it can read; a corrupted one is a warning, then rewritten', async () => {
    const lib = makeDataDir({files: 1500, walFiles: 0})
    expect((await backup(lib)).code).to.equal(0)
    const full = backupsIn(lib)[0]
    const record = path.join(lib.dataDir, 'backup-history.json')
    expect(fs.statSync(record).mode & 0o777).to.equal(0o600)
    keepFiles(lib.databasePath, 150)
    expect((await backup(lib)).code).to.equal(11)

    fs.rmSync(record)
    const lost = await backup(lib)
    expect(lost.code, lost.stderr).to.equal(11)
    expect(parseJson(lost).shrink).to.deep.include({last_backup_before_drop: path.join(lib.backupDir, full)})

    fs.writeFileSync(record, '{"version": 1, "destinations": {"/x": ')
    const corrupted = await runCliChecked(['library:backup', '--keep-last', '1'], lib.env)
    expect(corrupted.code, corrupted.stderr).to.equal(11)
    // oclif wraps warnings to the terminal's width, behind ` ›   `.
    const stderr = corrupted.stderr.replaceAll(/\s+(›\s+)?/g, ' ')
    expect(stderr).to.match(/Warning: The backup history \S*backup-history\.json could not be read/)
    expect(corrupted.stderr).to.contain(`Error: The library shrank from 1,500 to 150 files`)
    const rewritten = JSON.parse(fs.readFileSync(record, 'utf8')) as {destinations: Record<string, unknown>}
    expect(Object.keys(rewritten.destinations)).to.deep.equal([fs.realpathSync(lib.backupDir)])
    expect(backupsIn(lib)).to.include(full).and.have.lengthOf(4)
  })

  it('a backup directory that lost every backup this machine recorded there (a disk not mounted) is a warning, once', async () => {
    const lib = makeDataDir({files: 1500, walFiles: 0})
    expect((await backup(lib)).code).to.equal(0)
    expect((await backup(lib)).code).to.equal(0)
    for (const name of backupsIn(lib)) fs.rmSync(path.join(lib.backupDir, name))
    const night = () => inANewSecond(async () => runCliChecked(['library:backup', '--keep-last', '1'], lib.env))
    const emptied = await night()
    expect(emptied.code, emptied.stderr).to.equal(0)
    expect(emptied.stderr.replaceAll(/\s+(›\s+)?/g, ' ')).to.contain(
      `Warning: The backup this machine last recorded at ${fs.realpathSync(lib.backupDir)} is not there any more (is its disk mounted? were they removed?)`,
    )
    const next = await night()
    expect(next.code, next.stderr).to.equal(0)
    expect(next.stderr, 'said once').to.not.contain('Warning')
  })

  it('a record that is a directory: two warnings, the backup made, no temporary file left', async () => {
    const lib = makeDataDir({files: 150, walFiles: 0})
    fs.mkdirSync(path.join(lib.dataDir, 'backup-history.json'))
    const result = await runCliChecked(['library:backup'], lib.env)
    expect(result.code, result.stderr).to.equal(0)
    const stderr = result.stderr.replaceAll(/\s+(›\s+)?/g, ' ')
    expect(stderr).to.contain('could not be read (EISDIR').and.contain('could not be written (EISDIR')
    expect(fs.readdirSync(lib.dataDir).filter((name) => name.startsWith('.'))).to.deep.equal([])
  })

  it('under sudo, the record and the metrics file belong to the owner of their directories, the record 0600', async function () {
    if (process.getuid?.() !== 0) this.skip()
    const nobody = {uid: 65_534, gid: 65_534}
    const lib = makeDataDir({files: 1500, walFiles: 0})
    for (const entry of ['', ...(fs.readdirSync(lib.dataDir, {recursive: true}) as string[])])
      fs.chownSync(path.join(lib.dataDir, entry), nobody.uid, nobody.gid)
    const textfiles = path.join(lib.dataDir, 'textfiles')
    fs.mkdirSync(textfiles)
    fs.chownSync(textfiles, nobody.uid, nobody.gid)
    const metricsFile = path.join(textfiles, 'vpo.prom')
    expect((await backup(lib, ['--metrics-file', metricsFile])).code).to.equal(0)
    const record = fs.statSync(path.join(lib.dataDir, 'backup-history.json'))
    expect({uid: record.uid, gid: record.gid, mode: record.mode & 0o777}).to.deep.equal({...nobody, mode: 0o600})
    const metrics = fs.statSync(metricsFile)
    expect({uid: metrics.uid, gid: metrics.gid}).to.deep.equal(nobody)
  })
})
