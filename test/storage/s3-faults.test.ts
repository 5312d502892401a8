/**
 * The S3 target through a misbehaving network and store: a real s3rver behind our fault proxy.
 * What is checked is what a user would notice: the archive arrives intact or the upload fails,
 * in bounded time, with nothing left half-written and no multipart upload left dangling.
 */
import {expect} from 'chai'
import {spawn} from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

import {finishCli, ROOT, startCli} from '../helpers/cli.js'
import {slowDown} from '../helpers/fault-proxy.js'
import {failure, MiB, NAME, useFaultyStore} from '../helpers/faulty-store.js'
import {listTemps, lockDirectory} from '../helpers/leftovers.js'
import {makeDataDir, sha256File} from '../helpers/libraries.js'
import {useEnv} from '../helpers/s3-server.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

/** S3's answer to a PUT with If-None-Match when the object is there by then (another writer, or our own). */
const PRECONDITION_FAILED_PUT = {
  method: 'PUT',
  fault: {
    kind: 'error',
    status: 412,
    code: 'PreconditionFailed',
    message: 'At least one of the pre-conditions you specified did not hold',
  },
} as const

describe('S3 bucket target under faults (s3rver behind a fault proxy)', () => {
  const store = useFaultyStore('vpo-faults')

  it('retries 503 SlowDown and resets on upload, and stores the exact bytes', async () => {
    const bytes = crypto.randomBytes(2 * MiB)
    store.proxy.inject({method: 'PUT', fault: slowDown, times: 2})
    store.proxy.inject({method: 'PUT', fault: {kind: 'reset', afterRequestBytes: 300_000}})
    const target = store.bucket()
    expect(await target.commit(await store.stage(target, bytes), NAME, {overwrite: false})).to.equal(true)
    expect(store.proxy.faultsApplied()).to.equal(3)
    expect((await store.storedBytes(NAME)).equals(bytes)).to.equal(true)
  })

  it('retries a reset in the middle of one part of a multipart upload', async () => {
    const bytes = crypto.randomBytes(12 * MiB)
    store.proxy.inject({method: 'PUT', url: /partNumber=2/, fault: {kind: 'reset', afterRequestBytes: MiB}})
    store.proxy.inject({
      method: 'POST',
      url: /uploadId=/,
      fault: {kind: 'error', status: 500, code: 'InternalError', message: 'We encountered an internal error.'},
    })
    const target = store.bucket()
    expect(await target.commit(await store.stage(target, bytes), NAME, {overwrite: false})).to.equal(true)
    expect(store.proxy.faultsApplied()).to.equal(2)
    expect((await store.storedBytes(NAME)).equals(bytes)).to.equal(true)
    expect(await store.danglingUploads()).to.equal(0)
  })

  it('resumes a download cut short, and survives a reset and a stall', async () => {
    const bytes = crypto.randomBytes(3 * MiB)
    const target = store.bucket()
    await target.commit(await store.stage(target, bytes), NAME, {overwrite: false})
    store.proxy.clear()
    store.proxy.inject({method: 'GET', fault: {kind: 'truncate', afterResponseBytes: MiB}})
    store.proxy.inject({method: 'GET', fault: {kind: 'reset'}})
    store.proxy.inject({method: 'GET', fault: {kind: 'stall', ms: 3000}})
    const fetched = await target.fetch(NAME, store.scratch)
    expect(fs.readFileSync(fetched.path).equals(bytes)).to.equal(true)
    fetched.dispose()
    const gets = store.proxy.requests.filter((entry) => entry.method === 'GET')
    expect(gets.map((entry) => entry.fault)).to.deep.equal(['truncate', 'reset', 'stall', undefined])
    // The last request asked only for what was missing.
    expect(gets.at(-1)?.range).to.match(/^bytes=\d+-$/)
    expect(Number(gets.at(-1)?.range?.slice(6, -1))).to.be.greaterThan(0)
  })

  it('retries a listing cut short or stalled, and a head read that was reset', async () => {
    const target = store.bucket()
    await target.commit(await store.stage(target, crypto.randomBytes(5000)), NAME, {overwrite: false})
    store.proxy.clear()
    store.proxy.inject({method: 'GET', url: /list-type=2/, fault: {kind: 'truncate', afterResponseBytes: 100}})
    store.proxy.inject({method: 'GET', url: /list-type=2/, fault: {kind: 'stall', ms: 3000}})
    store.proxy.inject({method: 'GET', url: /\.tar\.gz/, fault: {kind: 'reset'}})
    expect((await target.list(() => true)).map((entry) => entry.name)).to.deep.equal([NAME])
    expect((await target.readHead(NAME, 4096)).length).to.equal(4096)
    expect(store.proxy.faultsApplied()).to.equal(3)
  })

  it('catches a store that corrupts an upload, and leaves no object under the name', async () => {
    store.proxy.inject({method: 'PUT', fault: {kind: 'flip-request', offset: 1234}})
    const target = store.bucket()
    const staged = await store.stage(target, crypto.randomBytes(100_000))
    const error = await failure(target.commit(staged, NAME, {overwrite: false}))
    expect(error.code).to.equal('STORAGE_ERROR')
    expect(error.sentence).to.include('different bytes').and.include(`s3://${store.bucketName}/${store.prefix}${NAME}`)
    expect(await store.exists(NAME)).to.equal(false)
  })

  it('catches a store that corrupts a multipart upload, and leaves nothing behind', async () => {
    store.proxy.inject({method: 'PUT', url: /partNumber=3/, fault: {kind: 'flip-request', offset: 5}})
    const target = store.bucket()
    const error = await failure(
      target.commit(await store.stage(target, crypto.randomBytes(11 * MiB)), NAME, {overwrite: false}),
    )
    expect(error.sentence).to.include('different bytes')
    expect(await store.exists(NAME)).to.equal(false)
    expect(await store.danglingUploads()).to.equal(0)
  })

  it("catches s3rver keeping the SDK's aws-chunked framing (the SDK's default checksums)", async () => {
    const restore = useEnv({...store.server.env, AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_SUPPORTED'})
    try {
      const target = store.bucket()
      const error = await failure(
        target.commit(await store.stage(target, crypto.randomBytes(100_000)), NAME, {overwrite: false}),
      )
      expect(error.code).to.equal('STORAGE_ERROR')
      expect(error.sentence).to.match(/kept \d+ bytes instead of 100000/)
      expect(await store.exists(NAME)).to.equal(false)
    } finally {
      restore()
    }
  })

  it('treats a concurrent writer (412 to If-None-Match) as "already exists" and uploads nothing', async () => {
    store.proxy.inject(PRECONDITION_FAILED_PUT)
    const target = store.bucket()
    const staged = await store.stage(target, crypto.randomBytes(1000))
    expect(await target.commit(staged, NAME, {overwrite: false})).to.equal(false)
    expect(await store.exists(NAME)).to.equal(false)
  })

  it('keeps an upload whose success reply was lost, when the retry meets 412 from our own object', async () => {
    store.proxy.inject({method: 'PUT', fault: {kind: 'drop-response'}})
    store.proxy.inject(PRECONDITION_FAILED_PUT)
    const target = store.bucket()
    const bytes = crypto.randomBytes(1000)
    const staged = await store.stage(target, bytes)
    expect(await target.commit(staged, NAME, {overwrite: false})).to.equal(true)
    expect(fs.existsSync(staged)).to.equal(false)
    expect((await store.storedBytes(NAME)).equals(bytes)).to.equal(true)
  })

  it('keeps a multipart upload whose completion reply was lost (the retry meets NoSuchUpload)', async () => {
    store.proxy.inject({method: 'POST', url: /uploadId=/, fault: {kind: 'drop-response'}})
    const target = store.bucket()
    const bytes = crypto.randomBytes(11 * MiB)
    expect(await target.commit(await store.stage(target, bytes), NAME, {overwrite: false})).to.equal(true)
    expect(
      store.proxy.requests.filter((entry) => entry.method === 'POST' && entry.url.includes('uploadId=')).length,
    ).to.equal(2)
    expect((await store.storedBytes(NAME)).equals(bytes)).to.equal(true)
  })

  it('falls back to a plain upload when the store does not implement If-None-Match', async () => {
    store.proxy.inject({
      method: 'PUT',
      fault: {
        kind: 'error',
        status: 501,
        code: 'NotImplemented',
        message: 'A header you provided implies functionality that is not implemented',
      },
    })
    const target = store.bucket()
    const bytes = crypto.randomBytes(1000)
    expect(await target.commit(await store.stage(target, bytes), NAME, {overwrite: false})).to.equal(true)
    expect((await store.storedBytes(NAME)).equals(bytes)).to.equal(true)
  })

  it('aborts a multipart upload whose part keeps failing: none is left dangling', async () => {
    store.proxy.inject({method: 'PUT', url: /partNumber=2/, fault: slowDown, times: Infinity})
    const target = store.bucket()
    const error = await failure(
      target.commit(await store.stage(target, crypto.randomBytes(12 * MiB)), NAME, {overwrite: false}),
    )
    expect(error.code).to.equal('STORAGE_ERROR')
    expect(store.proxy.requests.some((entry) => entry.method === 'DELETE' && entry.url.includes('uploadId='))).to.equal(
      true,
    )
    expect(await store.danglingUploads()).to.equal(0)
    expect(await store.exists(NAME)).to.equal(false)
  })

  it('abort() (Ctrl-C) stops an upload in flight and aborts it in the store', async () => {
    store.proxy.inject({method: 'PUT', url: /partNumber=/, fault: {kind: 'stall', ms: 10_000}, times: Infinity})
    const target = store.bucket()
    const committing = failure(
      target.commit(await store.stage(target, crypto.randomBytes(12 * MiB)), NAME, {overwrite: false}),
    )
    while (!store.proxy.requests.some((entry) => entry.url.includes('partNumber=')))
      await new Promise((resolve) => setTimeout(resolve, 20))
    const started = Date.now()
    await target.abort()
    expect(Date.now() - started).to.be.below(3000)
    expect((await committing).code).to.equal('INTERRUPTED')
    expect(await store.danglingUploads()).to.equal(0)
    expect(await store.exists(NAME)).to.equal(false)
  })

  it('abort() while the upload is being read back removes the unchecked object', async () => {
    store.proxy.inject({method: 'GET', fault: {kind: 'stall', ms: 10_000}})
    const target = store.bucket()
    const committing = failure(
      target.commit(await store.stage(target, crypto.randomBytes(1000)), NAME, {overwrite: false}),
    )
    while (!store.proxy.requests.some((entry) => entry.method === 'GET'))
      await new Promise((resolve) => setTimeout(resolve, 20))
    await target.abort()
    expect((await committing).code).to.equal('INTERRUPTED')
    expect(await store.exists(NAME)).to.equal(false)
  })

  it('Ctrl-C in a real process: SIGINT awaiting abort() exits 130 with nothing dangling and a clean stderr', async () => {
    store.proxy.inject({method: 'PUT', url: /partNumber=/, fault: {kind: 'stall', ms: 10_000}, times: Infinity})
    // The wiring the commands need: an async SIGINT path that waits for abort() before exiting.
    const script = [
      `import fs from 'node:fs'`,
      `import {S3Bucket} from ${JSON.stringify(path.join(ROOT, 'src/lib/storage/s3-bucket.ts'))}`,
      `const target = new S3Bucket(${JSON.stringify(`s3://${store.bucketName}/${store.prefix}`)}, {stagingDir: ${JSON.stringify(path.join(store.scratch, 'staging'))}})`,
      `process.once('SIGINT', async () => { await target.abort(); process.exit(130) })`,
      `const staged = (await target.prepareStaging()) + '/staged'`,
      `fs.writeFileSync(staged, Buffer.alloc(12 * 1024 * 1024, 7))`,
      `await target.commit(staged, ${JSON.stringify(NAME)}, {overwrite: false})`,
    ].join('\n')
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      env: {...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: undefined},
    })
    let stderr = ''
    child.stderr.on('data', (chunk) => (stderr += chunk))
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
    while (!store.proxy.requests.some((entry) => entry.url.includes('partNumber=')))
      await new Promise((resolve) => setTimeout(resolve, 20))
    child.kill('SIGINT')
    expect(await exited).to.equal(130)
    expect(stderr).to.equal('')
    expect(await store.danglingUploads()).to.equal(0)
    expect(await store.exists(NAME)).to.equal(false)
  })

  it('Ctrl-C during library:backup --output s3:// (the real CLI): exit 130, no object, no multipart upload, no temp file', async function () {
    this.timeout(120_000)
    // About 7 MB of archive: a multipart upload at the 5 MiB threshold these tests set.
    const library = makeDataDir({files: 20_000, walFiles: 5})
    const before = sha256File(library.databasePath)
    const tmp = makeTempDir('vpo-s3-tmp')
    store.proxy.inject({method: 'PUT', url: /partNumber=/, fault: {kind: 'stall', ms: 60_000}, times: Infinity})
    const child = startCli(['library:backup', '--output', `s3://${store.bucketName}/${store.prefix}`, '--json'], {
      env: {...library.env, TMPDIR: tmp},
    })
    const done = finishCli(child, 90_000)
    while (!store.proxy.requests.some((entry) => entry.url.includes('partNumber='))) {
      if (child.exitCode !== null) break
      await new Promise((resolve) => setTimeout(resolve, 20))
    }

    child.kill('SIGINT')
    const result = await done
    expect(result.code, result.stdout + result.stderr).to.equal(130)
    expect(result.stderr).to.match(/Interrupted by SIGINT/)
    expect(await store.danglingUploads(), 'multipart uploads left in the store').to.equal(0)
    store.proxy.clear()
    expect(await store.bucket().list(() => true), 'objects under the prefix').to.deep.equal([])
    for (const dir of [tmp, ...fs.readdirSync(tmp).map((name) => path.join(tmp, name))])
      expect(listTemps(dir), dir).to.deep.equal([])
    expect(listTemps(library.dataDir)).to.deep.equal([])
    expect(fs.existsSync(lockDirectory(library.databasePath)), 'the lock is released').to.equal(false)
    expect(sha256File(library.databasePath)).to.equal(before)
    cleanupTempDirs()
  })
})
