/**
 * A restore from s3:// reads a plain archive while it downloads. Whatever the download does, the
 * restore must give back the archived database byte for byte or change nothing: a download cut
 * half-way is exit 8, an object whose database differs from what its metadata (its first bytes)
 * declares is exit 3, and neither leaves a scratch file or touches the library. Real s3rver
 * behind the fault proxy, real archives, the real CLI.
 */
import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'

import {useArchivedLibrary} from '../helpers/archived-libraries.js'
import {finishCli, runCli, startCli} from '../helpers/cli.js'
import {expectJsonError, expectNoStackTrace} from '../helpers/expectations.js'
import {MiB, useFaultyStore} from '../helpers/faulty-store.js'
import {leftoverTempFiles, listTemps, lockDirectory} from '../helpers/leftovers.js'
import {makeDataDir, sha256File, treeState} from '../helpers/libraries.js'
import {archiveMetadata, extractArchiveMember, writeArchiveWithPython} from '../helpers/python-archives.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'
import {pollUntil} from '../helpers/waiting.js'

/** GETs of the archive itself; a listing names the archive in its query only. */
const ARCHIVE_GET = /^[^?]*\.tar\.gz/

describe('restore from s3:// while the archive downloads', function () {
  this.timeout(300_000)
  const store = useFaultyStore('vpo-restore-stream')
  // Several MiB of archive, so the download arrives in many pieces while the restore reads.
  const source = useArchivedLibrary({files: 12_000, walFiles: 5})
  const name = () => path.basename(source.archive)
  const url = (object = name()) => `s3://${store.bucketName}/${store.prefix}${object}`

  after(() => cleanupTempDirs())

  async function upload(file: string, object = name()): Promise<void> {
    const target = store.bucket()
    expect(await target.commit(await store.stage(target, fs.readFileSync(file)), object, {overwrite: false})).to.equal(
      true,
    )
    store.proxy.clear()
  }

  it('restores the archived database byte for byte, reading the object once', async () => {
    expect(fs.statSync(source.archive).size).to.be.greaterThan(4 * MiB)
    await upload(source.archive)
    const data = makeDataDir({files: 50, walFiles: 0})
    const env = {...data.env, TMPDIR: makeTempDir('vpo-tmp')}
    const run = await runCli(['library:restore', url(), '--yes', '--no-safety-backup', '--json'], {env})
    expect(run.code, run.stdout + run.stderr).to.equal(0)
    expect(sha256File(data.databasePath)).to.equal(source.databaseSha256)
    const gets = store.proxy.requests.filter((entry) => entry.method === 'GET' && ARCHIVE_GET.test(entry.url))
    expect(gets, 'one download, read by the plan and the extraction alike').to.have.length(1)
    expect(leftoverTempFiles(env.TMPDIR)).to.deep.equal([])
    expect(leftoverTempFiles(data.dataDir)).to.deep.equal([])
  })

  it('a download cut half-way: exit 8 naming the URL, the library and its directory unchanged, no scratch file', async () => {
    await upload(source.archive)
    const data = makeDataDir({files: 50, walFiles: 0})
    const before = treeState(data.dataDir)
    const env = {...data.env, TMPDIR: makeTempDir('vpo-tmp'), VPO_S3_MAX_ATTEMPTS: '2'}
    // Every attempt stops after 1.5 MiB: the restore has read the head and started extracting.
    store.proxy.inject({
      method: 'GET',
      url: ARCHIVE_GET,
      fault: {kind: 'truncate', afterResponseBytes: 1.5 * MiB},
      times: Infinity,
    })
    const run = await runCli(['library:restore', url(), '--yes', '--json'], {env})
    expectNoStackTrace(run)
    expect(expectJsonError(run, 'STORAGE_ERROR', 8)).to.include(url())
    expect(store.proxy.faultsApplied()).to.equal(2)
    expect(treeState(data.dataDir)).to.deep.equal(before)
    expect(leftoverTempFiles(env.TMPDIR)).to.deep.equal([])
  })

  it('an object whose database is not the one its metadata declares: exit 3 (checksum), nothing swapped', async () => {
    const dir = makeTempDir('vpo-forged')
    const database = path.join(dir, 'library.db')
    extractArchiveMember(source.archive, 'library.db', database)
    // One byte of the database changed, past the first MiB of the archive, after the metadata
    // that declares the original's checksum: only the end of the download can tell.
    const bytes = fs.readFileSync(database)
    bytes[bytes.length - 10] ^= 0xff
    fs.writeFileSync(database, bytes)
    const forged = path.join(dir, name())
    writeArchiveWithPython(forged, [
      {name: 'backup_metadata.json', text: JSON.stringify(archiveMetadata(source.archive))},
      {name: 'library.db', source: database},
    ])
    expect(fs.statSync(forged).size).to.be.greaterThan(2 * MiB)
    await upload(forged)

    const data = makeDataDir({files: 50, walFiles: 0})
    const before = treeState(data.dataDir)
    const env = {...data.env, TMPDIR: makeTempDir('vpo-tmp')}
    const run = await runCli(['library:restore', url(), '--yes', '--json'], {env})
    expectNoStackTrace(run)
    const message = expectJsonError(run, 'INVALID_ARCHIVE', 3)
    expect(message)
      .to.match(/checksum of library\.db does not match/)
      .and.include(url())
    expect(message).to.not.include('.vpo-backup-tmp-')
    expect(treeState(data.dataDir)).to.deep.equal(before)
    expect(leftoverTempFiles(env.TMPDIR)).to.deep.equal([])
  })

  it('Ctrl-C while the archive is half downloaded and being extracted: exit 130, library unchanged, no scratch file, no lock', async () => {
    await upload(source.archive)
    const data = makeDataDir({files: 50, walFiles: 0})
    const before = treeState(data.dataDir)
    const tmp = makeTempDir('vpo-tmp')
    // The first GET stops after 3 MiB and the resume hangs: the restore extracts what came meanwhile.
    store.proxy.inject({method: 'GET', url: ARCHIVE_GET, fault: {kind: 'truncate', afterResponseBytes: 3 * MiB}})
    store.proxy.inject({method: 'GET', url: ARCHIVE_GET, fault: {kind: 'stall', ms: 60_000}, times: Infinity})
    const child = startCli(['library:restore', url(), '--yes', '--json'], {
      env: {...data.env, TMPDIR: tmp, VPO_S3_IDLE_TIMEOUT_MS: '60000'},
    })
    const done = finishCli(child, 90_000)
    const stalled = () => store.proxy.requests.some((entry) => entry.fault === 'stall')
    expect(await pollUntil(() => stalled() || child.exitCode !== null, 30_000)).to.equal(true)
    expect(listTemps(tmp), 'the download is under way').to.have.length(1)
    const extracting = () => listTemps(data.dataDir).some((file) => file.endsWith('.restore.db'))
    expect(await pollUntil(extracting, 10_000), 'extraction began before the download ended').to.equal(true)
    child.kill('SIGINT')
    const result = await done
    expect(result.code, result.stdout + result.stderr).to.equal(130)
    expect(leftoverTempFiles(tmp)).to.deep.equal([])
    expect(fs.existsSync(lockDirectory(data.databasePath)), 'the lock is released').to.equal(false)
    expect(treeState(data.dataDir)).to.deep.equal(before)
  })
})
