/**
 * Copies under the faults a backup meets: a store that corrupts uploads or resets connections
 * (s3rver behind the fault proxy), Ctrl-C mid-upload, a destination disk that fills (tmpfs), and
 * a copy between two buckets of an archive far larger than the memory it may use. The guarantees
 * are a backup's: nothing half-written under a final name, the source untouched.
 */
import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'

import type {BackupJson, CopyJson} from '../../src/cli/json-results.js'

import {encryptFile, parseRecipients} from '../../src/lib/encryption/index.js'
import {makeLocalKey} from '../helpers/age-files.js'
import {fileFacts, regularName} from '../helpers/backup-copies.js'
import {finishCli, parseJson, runCli, startCli} from '../helpers/cli.js'
import {expectNoStackTrace} from '../helpers/expectations.js'
import {useFaultyStore} from '../helpers/faulty-store.js'
import {isRoot, mountTmpfs, preloadHook, statfsReportingATerabyte, useMounts} from '../helpers/filesystems.js'
import {leftoverTempFiles, listArchives} from '../helpers/leftovers.js'
import {type DataDir, makeDataDir, sha256File} from '../helpers/libraries.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

type Failed<T> = T & {error: {code: string; exit_code: number; message: string}}
type PlacesJson = BackupJson & Required<Pick<BackupJson, 'places'>>

async function backUp(library: DataDir, times: number): Promise<string[]> {
  const names: string[] = []
  for (let i = 0; i < times; i++) {
    const made = await runCli(['library:backup', '--json'], {env: library.env})
    expect(made.code, made.stderr).to.equal(0)
    names.push(path.basename((parseJson(made) as unknown as BackupJson).path))
  }

  return names
}

/** The source directory, file by file (size, mtime, inode): a copy only reads it. */
function sourceFacts(library: DataDir): Record<string, string> {
  return fileFacts(fs.readdirSync(library.backupDir).map((name) => path.join(library.backupDir, name)))
}

describe('copies under faults', function () {
  this.timeout(300_000)
  const store = useFaultyStore('vpo-copy-faults')
  const mounts = useMounts()
  const url = () => `s3://${store.bucketName}/${store.prefix}`

  after(() => cleanupTempDirs())

  it('a store that corrupts the upload: caught by the read-back, deleted, exit 8; the next run copies it whole', async () => {
    const library = makeDataDir({files: 300, walFiles: 5})
    const [name] = await backUp(library, 1)
    const before = sourceFacts(library)
    const env = {...library.env, TMPDIR: makeTempDir('vpo-tmp')}
    store.proxy.inject({method: 'PUT', fault: {kind: 'flip-request', offset: 1234}})

    const run = await runCli(['library:copy', '--to', url(), '--json'], {env})
    expectNoStackTrace(run)
    expect(run.code, run.stdout + run.stderr).to.equal(8)
    const json = parseJson(run) as unknown as Failed<CopyJson>
    expect(json.error.code).to.equal('STORAGE_ERROR')
    expect(json.copied).to.deep.equal([])
    expect(await store.exists(name), 'no corrupt object under the name').to.equal(false)
    expect(sourceFacts(library)).to.deep.equal(before)
    expect(leftoverTempFiles(env.TMPDIR)).to.deep.equal([])

    const again = await runCli(['library:copy', '--to', url()], {env})
    expect(again.code, again.stderr).to.equal(0)
    expect((await store.storedBytes(name)).equals(fs.readFileSync(path.join(library.backupDir, name)))).to.equal(true)
  })

  it('a store that resets connections: retried, and the copy arrives byte for byte', async () => {
    const library = makeDataDir({files: 300, walFiles: 5})
    const names = await backUp(library, 2)
    store.proxy.inject({method: 'PUT', fault: {kind: 'reset', afterRequestBytes: 1000}, times: 2})
    store.proxy.inject({method: 'GET', fault: {kind: 'truncate', afterResponseBytes: 5000}, times: 1})
    const run = await runCli(['library:copy', '--to', url(), '--json'], {
      env: {...library.env, TMPDIR: makeTempDir('vpo-tmp')},
    })
    expect(run.code, run.stdout + run.stderr).to.equal(0)
    expect(store.proxy.faultsApplied()).to.be.at.least(3)
    for (const name of names)
      expect((await store.storedBytes(name)).equals(fs.readFileSync(path.join(library.backupDir, name)))).to.equal(true)
  })

  /** Runs the CLI with every part upload stalled, and presses Ctrl-C once the first part is on its way. */
  async function interruptedMidUpload(args: string[], env: NodeJS.ProcessEnv) {
    store.proxy.inject({method: 'PUT', url: /partNumber=/, fault: {kind: 'stall', ms: 60_000}, times: Infinity})
    const child = startCli(args, {env})
    const done = finishCli(child, 90_000)
    while (!store.proxy.requests.some((entry) => entry.url.includes('partNumber='))) {
      if (child.exitCode !== null) break
      await new Promise((resolve) => setTimeout(resolve, 20))
    }

    child.kill('SIGINT')
    return done
  }

  it('Ctrl-C during library:copy to s3://: exit 130, no object, no multipart upload, no temp file, the source untouched', async () => {
    // About 7 MB of archive: a multipart upload at the 5 MiB threshold these tests set.
    const library = makeDataDir({files: 20_000, walFiles: 5})
    const [name] = await backUp(library, 1)
    const before = sourceFacts(library)
    const tmp = makeTempDir('vpo-tmp')
    const result = await interruptedMidUpload(['library:copy', '--to', url()], {...library.env, TMPDIR: tmp})
    expect(result.code, result.stdout + result.stderr).to.equal(130)
    expect(await store.danglingUploads(), 'multipart uploads left in the store').to.equal(0)
    expect(await store.exists(name)).to.equal(false)
    expect(leftoverTempFiles(tmp)).to.deep.equal([])
    expect(sourceFacts(library)).to.deep.equal(before)
  })

  it('Ctrl-C while backup --copy-to uploads: exit 130, the primary backup stays whole and is named, no object, no multipart upload', async () => {
    const library = makeDataDir({files: 20_000, walFiles: 5})
    const tmp = makeTempDir('vpo-tmp')
    const result = await interruptedMidUpload(['library:backup', '--copy-to', url()], {...library.env, TMPDIR: tmp})
    expect(result.code, result.stdout + result.stderr).to.equal(130)
    const [name] = listArchives(library.backupDir)
    expect(result.stderr, result.stderr).to.contain(`The backup ${path.join(library.backupDir, name)} was written`)
    expect(await store.danglingUploads(), 'multipart uploads left in the store').to.equal(0)
    expect(await store.exists(name)).to.equal(false)
    expect(leftoverTempFiles(tmp)).to.deep.equal([])
    const check = await runCli(['library:verify', path.join(library.backupDir, name)], {env: library.env})
    expect(check.code, check.stdout + check.stderr).to.equal(0)
  })

  it('backup --copy-to a store that corrupts the upload: exit 8, the primary and the USB copy kept, no object', async () => {
    const library = makeDataDir({files: 300, walFiles: 5})
    const usb = makeTempDir('vpo-usb')
    store.proxy.inject({method: 'PUT', fault: {kind: 'flip-request', offset: 1234}})
    const run = await runCli(['library:backup', '--copy-to', url(), '--copy-to', usb, '--json'], {
      env: {...library.env, TMPDIR: makeTempDir('vpo-tmp')},
    })
    expectNoStackTrace(run)
    expect(run.code, run.stdout + run.stderr).to.equal(8)
    const json = parseJson(run) as unknown as Failed<PlacesJson>
    const name = path.basename(json.path)
    expect(json.places.map((place) => place.stored)).to.deep.equal([true, false, true])
    expect(json.error.message).to.match(/^The backup \S+ is in .* and .*, but not in s3:\/\/.*different bytes/)
    expect(await store.exists(name)).to.equal(false)
    expect(sha256File(path.join(usb, name))).to.equal(sha256File(json.path))
  })

  it('a destination disk that fills: exit 5, the copies that fit are whole, no partial file, nothing pruned there', async function () {
    if (!isRoot()) this.skip()
    const library = makeDataDir({files: 300, walFiles: 5})
    const names = await backUp(library, 3)
    const archiveBytes = fs.statSync(path.join(library.backupDir, names[0])).size
    const disk = path.join(makeTempDir('vpo-full'), 'usb')
    // Room for two archives at most, as a nearly full USB disk has.
    expect(mountTmpfs(disk, `${Math.ceil((archiveBytes * 1.6) / 1024)}k`)).to.equal(true)
    mounts.push(disk)
    const before = sourceFacts(library)

    const run = await runCli(['library:copy', '--to', disk, '--json'], {env: library.env})
    expectNoStackTrace(run)
    expect(run.code, run.stdout).to.equal(5)
    const json = parseJson(run) as unknown as Failed<CopyJson>
    expect(json.copied.map((entry) => entry.name)).to.deep.equal([names[2]])
    expect(listArchives(disk)).to.deep.equal([names[2]])
    expect(sha256File(path.join(disk, names[2]))).to.equal(sha256File(path.join(library.backupDir, names[2])))
    expect(leftoverTempFiles(disk)).to.deep.equal([])
    expect(sourceFacts(library)).to.deep.equal(before)

    // A disk that claims room it does not have (a network share, another writer): the write itself fails.
    const lying = await runCli(['library:copy', '--to', disk, '--json'], {
      env: {...library.env, ...statfsReportingATerabyte()},
    })
    expectNoStackTrace(lying)
    expect(lying.code, lying.stdout).to.equal(5)
    expect((parseJson(lying) as unknown as Failed<CopyJson>).error.message).to.match(
      /^The disk filled up while copying /,
    )
    expect(listArchives(disk)).to.deep.equal([names[2]])
    expect(leftoverTempFiles(disk)).to.deep.equal([])
    expect(sourceFacts(library)).to.deep.equal(before)

    // The nightly run with that disk as a --copy-to place: the primary is written, the disk's old backup stays.
    const nightly = await runCli(['library:backup', '--copy-to', disk, '--keep', '1', '--json'], {env: library.env})
    expect(nightly.code, nightly.stdout).to.equal(5)
    const made = parseJson(nightly) as unknown as Failed<PlacesJson>
    expect(made.places.map((place) => place.stored)).to.deep.equal([true, false])
    expect(listArchives(library.backupDir)).to.deep.equal([path.basename(made.path)])
    expect(listArchives(disk), 'nothing pruned where the backup did not arrive').to.deep.equal([names[2]])
    expect(leftoverTempFiles(disk)).to.deep.equal([])
  })

  it('streams a large archive from one bucket to another without holding it in memory', async () => {
    const megabytes = Number(process.env.VPO_TEST_COPY_MB ?? 1024)
    const home = makeTempDir('vpo-big')
    const name = regularName('2026-01-01T03:30:00Z').replace('.tar.gz', '.tar.gz.age')
    const plain = path.join(home, 'plain')
    fs.writeFileSync(plain, '')
    fs.truncateSync(plain, megabytes * 1024 * 1024)
    const key = await makeLocalKey(home, 'key.txt')
    await encryptFile(plain, path.join(home, name), parseRecipients([key.recipient]))
    fs.rmSync(plain)
    // Straight to the server, with the default patience: a 1 GB multipart upload takes s3rver a while to assemble.
    const env = {
      TMPDIR: makeTempDir('vpo-tmp'),
      AWS_ENDPOINT_URL_S3: store.server.endpoint,
      VPO_S3_IDLE_TIMEOUT_MS: '30000',
    }
    const first = `${url()}first/`
    const second = `${url()}second/`
    const up = await runCli(['library:copy', name, '--from', home, '--to', first], {env, timeoutMs: 600_000})
    expect(up.code, up.stderr).to.equal(0)

    const rssFile = path.join(home, 'maxrss')
    const hook = preloadHook(
      `import fs from 'node:fs'\nprocess.on('exit', () => fs.writeFileSync(${JSON.stringify(rssFile)}, String(process.resourceUsage().maxRSS)))\n`,
    )
    const across = await runCli(['library:copy', '--from', first, '--to', second, '--json'], {
      env: {...env, ...hook},
      timeoutMs: 600_000,
    })
    expect(across.code, across.stdout + across.stderr).to.equal(0)
    expect((parseJson(across) as unknown as CopyJson).copied.map((entry) => entry.size_bytes)).to.deep.equal([
      fs.statSync(path.join(home, name)).size,
    ])
    const maxRssMb = Number(fs.readFileSync(rssFile, 'utf8')) / 1024
    console.log(`      ${megabytes} MB archive, s3:// to s3://: peak RSS ${maxRssMb.toFixed(0)} MB`)
    expect(maxRssMb).to.be.at.most(150)
    expect(leftoverTempFiles(env.TMPDIR)).to.deep.equal([])
  })
})
