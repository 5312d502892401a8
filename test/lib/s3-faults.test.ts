/**
 * The S3 target through a misbehaving network and store: a real s3rver behind our fault proxy.
 * What is checked is what a user would notice: the archive arrives intact or the command fails
 * with exit 8 and the store's reason, in bounded time, with nothing left half-written.
 */
import {HeadObjectCommand, ListMultipartUploadsCommand, S3Client} from '@aws-sdk/client-s3'
import {expect} from 'chai'
import {spawn} from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

import {LibraryBackupError} from '../../src/lib/errors.js'
import {S3Bucket} from '../../src/lib/storage/s3-bucket.js'
import {mountTmpfs, ROOT, unmount} from '../helpers/cli.js'
import {FaultProxy, slowDown} from '../helpers/fault-proxy.js'
import {type S3Server, startS3Server, useEnv} from '../helpers/s3-server.js'

const BUCKET = 'vpo-faults'
const MiB = 1024 * 1024
const NAME = 'vpo-library-20260101-000000.tar.gz'

describe('S3 bucket target under faults (s3rver behind a fault proxy)', () => {
  let server: S3Server
  let proxy: FaultProxy
  let scratch: string
  let restoreEnv: () => void
  let prefix: string
  let direct: S3Client

  before(async () => {
    server = await startS3Server([BUCKET])
    proxy = await FaultProxy.start(server.endpoint)
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'vpo-s3-faults-'))
  })

  after(async () => {
    await proxy?.stop()
    await server?.stop()
    fs.rmSync(scratch, {recursive: true, force: true})
  })

  beforeEach(() => {
    prefix = `t-${crypto.randomBytes(4).toString('hex')}/`
    proxy.clear()
    // Multipart from 5 MiB (S3's smallest part) so a 12 MiB archive is three parts.
    restoreEnv = useEnv({
      ...server.env,
      AWS_ENDPOINT_URL_S3: proxy.endpoint,
      VPO_S3_MULTIPART_THRESHOLD: String(5 * MiB),
      VPO_S3_PART_SIZE: String(5 * MiB),
    })
    direct = new S3Client({endpoint: server.endpoint, forcePathStyle: true})
  })

  afterEach(() => {
    direct.destroy()
    restoreEnv()
  })

  const bucket = (): S3Bucket => new S3Bucket(`s3://${BUCKET}/${prefix}`, {stagingDir: path.join(scratch, 'staging')})

  async function stage(target: S3Bucket, bytes: Buffer): Promise<string> {
    const file = path.join(await target.prepareStaging(), `staged-${crypto.randomBytes(4).toString('hex')}`)
    fs.writeFileSync(file, bytes)
    return file
  }

  async function storedBytes(name: string): Promise<Buffer> {
    proxy.clear()
    const fetched = await bucket().fetch(name, scratch)
    const bytes = fs.readFileSync(fetched.path)
    fetched.dispose()
    return bytes
  }

  async function exists(name: string): Promise<boolean> {
    try {
      await direct.send(new HeadObjectCommand({Bucket: BUCKET, Key: prefix + name}))
      return true
    } catch {
      return false
    }
  }

  async function danglingUploads(): Promise<number> {
    const listed = await direct.send(new ListMultipartUploadsCommand({Bucket: BUCKET}))
    return listed.Uploads?.length ?? 0
  }

  async function failure(promise: Promise<unknown>): Promise<LibraryBackupError> {
    try {
      await promise
    } catch (error) {
      expect(error).to.be.instanceOf(LibraryBackupError)
      const err = error as LibraryBackupError
      expect(err.message, 'one sentence, no stack').to.match(/^[^\n]+\.$/)
      return err
    }

    expect.fail('expected a failure')
  }

  it('retries 503 SlowDown and resets on upload, and stores the exact bytes', async () => {
    const bytes = crypto.randomBytes(2 * MiB)
    proxy.inject({method: 'PUT', fault: slowDown, times: 2})
    proxy.inject({method: 'PUT', fault: {kind: 'reset', afterRequestBytes: 300_000}})
    const target = bucket()
    expect(await target.commit(await stage(target, bytes), NAME, {overwrite: false})).to.equal(true)
    expect(proxy.faultsApplied()).to.equal(3)
    expect((await storedBytes(NAME)).equals(bytes)).to.equal(true)
  })

  it('retries a reset in the middle of one part of a multipart upload', async () => {
    const bytes = crypto.randomBytes(12 * MiB)
    proxy.inject({method: 'PUT', url: /partNumber=2/, fault: {kind: 'reset', afterRequestBytes: MiB}})
    proxy.inject({method: 'POST', url: /uploadId=/, fault: {kind: 'error', status: 500, code: 'InternalError', message: 'We encountered an internal error.'}})
    const target = bucket()
    expect(await target.commit(await stage(target, bytes), NAME, {overwrite: false})).to.equal(true)
    expect(proxy.faultsApplied()).to.equal(2)
    expect((await storedBytes(NAME)).equals(bytes)).to.equal(true)
    expect(await danglingUploads()).to.equal(0)
  })

  it('resumes a download cut short, and survives a reset and a stall', async () => {
    const bytes = crypto.randomBytes(3 * MiB)
    const target = bucket()
    await target.commit(await stage(target, bytes), NAME, {overwrite: false})
    proxy.clear()
    proxy.inject({method: 'GET', fault: {kind: 'truncate', afterResponseBytes: MiB}})
    proxy.inject({method: 'GET', fault: {kind: 'reset'}})
    proxy.inject({method: 'GET', fault: {kind: 'stall', ms: 3000}})
    const fetched = await target.fetch(NAME, scratch)
    expect(fs.readFileSync(fetched.path).equals(bytes)).to.equal(true)
    fetched.dispose()
    const gets = proxy.requests.filter((entry) => entry.method === 'GET')
    expect(gets.map((entry) => entry.fault)).to.deep.equal(['truncate', 'reset', 'stall', undefined])
    // The last request asked only for what was missing.
    expect(gets.at(-1)?.range).to.match(/^bytes=\d+-$/)
    expect(Number(gets.at(-1)?.range?.slice(6, -1))).to.be.greaterThan(0)
  })

  it('retries a listing cut short or stalled, and a head read that was reset', async () => {
    const target = bucket()
    await target.commit(await stage(target, crypto.randomBytes(5000)), NAME, {overwrite: false})
    proxy.clear()
    proxy.inject({method: 'GET', url: /list-type=2/, fault: {kind: 'truncate', afterResponseBytes: 100}})
    proxy.inject({method: 'GET', url: /list-type=2/, fault: {kind: 'stall', ms: 3000}})
    proxy.inject({method: 'GET', url: /\.tar\.gz/, fault: {kind: 'reset'}})
    expect((await target.list(() => true)).map((entry) => entry.name)).to.deep.equal([NAME])
    expect((await target.readHead(NAME, 4096)).length).to.equal(4096)
    expect(proxy.faultsApplied()).to.equal(3)
  })

  it('gives up on a store that keeps failing, in bounded time, with its reason (exit 8)', async () => {
    proxy.inject({method: 'PUT', fault: slowDown, times: Infinity})
    const target = bucket()
    const started = Date.now()
    const error = await failure(target.commit(await stage(target, crypto.randomBytes(1000)), NAME, {overwrite: false}))
    expect(Date.now() - started).to.be.below(5000)
    expect(error.code).to.equal('STORAGE_ERROR')
    expect(error.exitCode).to.equal(8)
    expect(error.message).to.include('SlowDown').and.include('Please reduce your request rate').and.include('after 4 attempts')
    expect(proxy.faultsApplied()).to.equal(4)
  })

  it('names the HTTP status when the store gives no reason (a HEAD answer has no body)', async () => {
    proxy.inject({fault: {kind: 'error', status: 503, code: 'SlowDown', message: ''}, times: Infinity})
    const target = bucket()
    const error = await failure(target.commit(await stage(target, crypto.randomBytes(10)), NAME, {overwrite: false}))
    expect(error.message).to.include('HTTP 503 Service Unavailable')
  })

  it('catches a store that corrupts an upload, and leaves no object under the name', async () => {
    proxy.inject({method: 'PUT', fault: {kind: 'flip-request', offset: 1234}})
    const target = bucket()
    const staged = await stage(target, crypto.randomBytes(100_000))
    const error = await failure(target.commit(staged, NAME, {overwrite: false}))
    expect(error.code).to.equal('STORAGE_ERROR')
    expect(error.message).to.include('different bytes').and.include(`s3://${BUCKET}/${prefix}${NAME}`)
    expect(await exists(NAME)).to.equal(false)
  })

  it('catches a store that corrupts a multipart upload, and leaves nothing behind', async () => {
    proxy.inject({method: 'PUT', url: /partNumber=3/, fault: {kind: 'flip-request', offset: 5}})
    const target = bucket()
    const error = await failure(target.commit(await stage(target, crypto.randomBytes(11 * MiB)), NAME, {overwrite: false}))
    expect(error.message).to.include('different bytes')
    expect(await exists(NAME)).to.equal(false)
    expect(await danglingUploads()).to.equal(0)
  })

  it("catches s3rver keeping the SDK's aws-chunked framing (the SDK's default checksums)", async () => {
    const restore = useEnv({...server.env, AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_SUPPORTED'})
    try {
      const target = bucket()
      const error = await failure(target.commit(await stage(target, crypto.randomBytes(100_000)), NAME, {overwrite: false}))
      expect(error.code).to.equal('STORAGE_ERROR')
      expect(error.message).to.match(/kept \d+ bytes instead of 100000/)
      expect(await exists(NAME)).to.equal(false)
    } finally {
      restore()
    }
  })

  it('treats a concurrent writer (412 to If-None-Match) as "already exists" and uploads nothing', async () => {
    proxy.inject({method: 'PUT', fault: {kind: 'error', status: 412, code: 'PreconditionFailed', message: 'At least one of the pre-conditions you specified did not hold'}})
    const target = bucket()
    const staged = await stage(target, crypto.randomBytes(1000))
    expect(await target.commit(staged, NAME, {overwrite: false})).to.equal(false)
    expect(await exists(NAME)).to.equal(false)
  })

  it('keeps an upload whose success reply was lost, when the retry meets 412 from our own object', async () => {
    proxy.inject({method: 'PUT', fault: {kind: 'drop-response'}})
    proxy.inject({method: 'PUT', fault: {kind: 'error', status: 412, code: 'PreconditionFailed', message: 'At least one of the pre-conditions you specified did not hold'}})
    const target = bucket()
    const bytes = crypto.randomBytes(1000)
    const staged = await stage(target, bytes)
    expect(await target.commit(staged, NAME, {overwrite: false})).to.equal(true)
    expect(fs.existsSync(staged)).to.equal(false)
    expect((await storedBytes(NAME)).equals(bytes)).to.equal(true)
  })

  it('keeps a multipart upload whose completion reply was lost (the retry meets NoSuchUpload)', async () => {
    proxy.inject({method: 'POST', url: /uploadId=/, fault: {kind: 'drop-response'}})
    const target = bucket()
    const bytes = crypto.randomBytes(11 * MiB)
    expect(await target.commit(await stage(target, bytes), NAME, {overwrite: false})).to.equal(true)
    expect(proxy.requests.filter((entry) => entry.method === 'POST' && entry.url.includes('uploadId=')).length).to.equal(2)
    expect((await storedBytes(NAME)).equals(bytes)).to.equal(true)
  })

  it('falls back to a plain upload when the store does not implement If-None-Match', async () => {
    proxy.inject({method: 'PUT', fault: {kind: 'error', status: 501, code: 'NotImplemented', message: 'A header you provided implies functionality that is not implemented'}})
    const target = bucket()
    const bytes = crypto.randomBytes(1000)
    expect(await target.commit(await stage(target, bytes), NAME, {overwrite: false})).to.equal(true)
    expect((await storedBytes(NAME)).equals(bytes)).to.equal(true)
  })

  it('aborts a multipart upload whose part keeps failing: none is left dangling', async () => {
    proxy.inject({method: 'PUT', url: /partNumber=2/, fault: slowDown, times: Infinity})
    const target = bucket()
    const error = await failure(target.commit(await stage(target, crypto.randomBytes(12 * MiB)), NAME, {overwrite: false}))
    expect(error.code).to.equal('STORAGE_ERROR')
    expect(proxy.requests.some((entry) => entry.method === 'DELETE' && entry.url.includes('uploadId='))).to.equal(true)
    expect(await danglingUploads()).to.equal(0)
    expect(await exists(NAME)).to.equal(false)
  })

  it('abort() (Ctrl-C) stops an upload in flight and aborts it in the store', async () => {
    proxy.inject({method: 'PUT', url: /partNumber=/, fault: {kind: 'stall', ms: 10_000}, times: Infinity})
    const target = bucket()
    const committing = failure(target.commit(await stage(target, crypto.randomBytes(12 * MiB)), NAME, {overwrite: false}))
    while (!proxy.requests.some((entry) => entry.url.includes('partNumber='))) await new Promise((resolve) => setTimeout(resolve, 20))
    const started = Date.now()
    await target.abort()
    expect(Date.now() - started).to.be.below(3000)
    expect((await committing).code).to.equal('INTERRUPTED')
    expect(await danglingUploads()).to.equal(0)
    expect(await exists(NAME)).to.equal(false)
  })

  it('abort() while the upload is being read back removes the unchecked object', async () => {
    proxy.inject({method: 'GET', fault: {kind: 'stall', ms: 10_000}})
    const target = bucket()
    const committing = failure(target.commit(await stage(target, crypto.randomBytes(1000)), NAME, {overwrite: false}))
    while (!proxy.requests.some((entry) => entry.method === 'GET')) await new Promise((resolve) => setTimeout(resolve, 20))
    await target.abort()
    expect((await committing).code).to.equal('INTERRUPTED')
    expect(await exists(NAME)).to.equal(false)
  })

  it('Ctrl-C in a real process: SIGINT awaiting abort() exits 130 with nothing dangling and a clean stderr', async () => {
    proxy.inject({method: 'PUT', url: /partNumber=/, fault: {kind: 'stall', ms: 10_000}, times: Infinity})
    // The wiring the commands need: an async SIGINT path that waits for abort() before exiting.
    const script = [
      `import fs from 'node:fs'`,
      `import {S3Bucket} from ${JSON.stringify(path.join(ROOT, 'src/lib/storage/s3-bucket.ts'))}`,
      `const target = new S3Bucket(${JSON.stringify(`s3://${BUCKET}/${prefix}`)}, {stagingDir: ${JSON.stringify(path.join(scratch, 'staging'))}})`,
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
    while (!proxy.requests.some((entry) => entry.url.includes('partNumber='))) await new Promise((resolve) => setTimeout(resolve, 20))
    child.kill('SIGINT')
    expect(await exited).to.equal(130)
    expect(stderr).to.equal('')
    expect(await danglingUploads()).to.equal(0)
    expect(await exists(NAME)).to.equal(false)
  })

  // s3rver checks the access key but not V4 signatures, so a wrong secret cannot be shown here.
  it('names wrong credentials without retrying', async () => {
    const restore = useEnv({...server.env, AWS_ENDPOINT_URL_S3: proxy.endpoint, AWS_ACCESS_KEY_ID: 'AKIANOTAKEY'})
    try {
      const error = await failure(bucket().list(() => true))
      expect(error.code).to.equal('STORAGE_ERROR')
      expect(error.message).to.include('InvalidAccessKeyId').and.include('AWS_ACCESS_KEY_ID')
      expect(proxy.requests.length).to.equal(1)
    } finally {
      restore()
    }
  })

  it('names missing credentials and a missing region', async () => {
    let restore = useEnv({...server.env, AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined})
    try {
      const error = await failure(bucket().list(() => true))
      expect(error.message).to.include('Could not load credentials').and.include('AWS_PROFILE')
    } finally {
      restore()
    }

    restore = useEnv({...server.env, AWS_ENDPOINT_URL_S3: undefined, AWS_REGION: undefined})
    try {
      const error = await failure(bucket().list(() => true))
      expect(error.message).to.include('Region is missing').and.include('set AWS_REGION')
    } finally {
      restore()
    }
  })

  it('reports a missing archive as not found (exit 1), not as a store failure', async () => {
    const error = await failure(bucket().fetch('vpo-library-missing.tar.gz', scratch))
    expect(error.code).to.equal('BACKUP_NOT_FOUND')
    expect(error.message).to.include(`s3://${BUCKET}/${prefix}vpo-library-missing.tar.gz does not exist`)
    expect(fs.readdirSync(scratch).filter((name) => name !== 'staging')).to.deep.equal([])
  })

  it('reports a download that fills the local disk as exit 5, not as a store failure', async function () {
    const small = path.join(scratch, 'small-disk')
    if (!mountTmpfs(small, '1m')) this.skip() // needs root
    try {
      const target = bucket()
      await target.commit(await stage(target, crypto.randomBytes(3 * MiB)), NAME, {overwrite: false})
      const error = await failure(target.fetch(NAME, small))
      expect(error.code).to.equal('INSUFFICIENT_SPACE')
      expect(error.exitCode).to.equal(5)
      expect(fs.readdirSync(small)).to.deep.equal([])
    } finally {
      unmount(small)
    }
  })

  it('names a missing bucket', async () => {
    const error = await failure(new S3Bucket('s3://no-such-bucket/backups/').list(() => true))
    expect(error.message).to.include('NoSuchBucket').and.include('s3://no-such-bucket/backups/').and.include('create the bucket')
  })

  it('names a 403 without retrying', async () => {
    proxy.inject({fault: {kind: 'error', status: 403, code: 'AccessDenied', message: 'Access Denied'}, times: Infinity})
    const error = await failure(bucket().readHead(NAME, 4096))
    expect(error.message).to.include('AccessDenied: Access Denied').and.include('permissions')
    expect(proxy.requests.length).to.equal(1)
  })

  it('gives up on an unreachable endpoint in bounded time', async () => {
    const port = await closedPort()
    const restore = useEnv({...server.env, AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${port}`})
    try {
      const started = Date.now()
      const error = await failure(bucket().list(() => true))
      expect(Date.now() - started).to.be.below(5000)
      expect(error.message).to.include('ECONNREFUSED').and.include('AWS_ENDPOINT_URL_S3')
    } finally {
      restore()
    }
  })
})

async function closedPort(): Promise<number> {
  const probe = net.createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const {port} = probe.address() as net.AddressInfo
  await new Promise((resolve) => probe.close(resolve))
  return port
}
