/**
 * The S3 target when the store or the local side says no: each failure ends with our exit code
 * and one sentence naming the store's own reason and what to do, in bounded time.
 */
import {expect} from 'chai'
import crypto from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'

import {S3Bucket} from '../../src/lib/storage/s3-bucket.js'
import {slowDown} from '../helpers/fault-proxy.js'
import {failure, MiB, NAME, useFaultyStore} from '../helpers/faulty-store.js'
import {mountTmpfs, unmount} from '../helpers/filesystems.js'
import {useEnv} from '../helpers/s3-server.js'

describe('S3 bucket target failures (s3rver behind a fault proxy)', () => {
  const store = useFaultyStore('vpo-errors')

  it('gives up on a store that keeps failing, in bounded time, with its reason (exit 8)', async () => {
    store.proxy.inject({method: 'PUT', fault: slowDown, times: Infinity})
    const target = store.bucket()
    const started = Date.now()
    const error = await failure(
      target.commit(await store.stage(target, crypto.randomBytes(1000)), NAME, {overwrite: false}),
    )
    expect(Date.now() - started).to.be.below(5000)
    expect(error.code).to.equal('STORAGE_ERROR')
    expect(error.exitCode).to.equal(8)
    expect(error.sentence)
      .to.include('SlowDown')
      .and.include('Please reduce your request rate')
      .and.include('after 4 attempts')
    expect(store.proxy.faultsApplied()).to.equal(4)
  })

  it('names the HTTP status when the store gives no reason (a HEAD answer has no body)', async () => {
    const target = store.bucket()
    // Staged first: staging itself asks the store once (a listing), which would meet the fault.
    const staged = await store.stage(target, crypto.randomBytes(10))
    store.proxy.inject({fault: {kind: 'error', status: 503, code: 'SlowDown', message: ''}, times: Infinity})
    const error = await failure(target.commit(staged, NAME, {overwrite: false}))
    expect(error.sentence).to.include('HTTP 503 Service Unavailable')
  })

  // s3rver checks the access key but not V4 signatures, so a wrong secret cannot be shown here.
  it('names wrong credentials without retrying', async () => {
    const restore = useEnv({
      ...store.server.env,
      AWS_ENDPOINT_URL_S3: store.proxy.endpoint,
      AWS_ACCESS_KEY_ID: 'AKIANOTAKEY',
    })
    try {
      const error = await failure(store.bucket().list(() => true))
      expect(error.code).to.equal('STORAGE_ERROR')
      expect(error.sentence).to.include('InvalidAccessKeyId').and.include('AWS_ACCESS_KEY_ID')
      expect(store.proxy.requests.length).to.equal(1)
    } finally {
      restore()
    }
  })

  it('names missing credentials and a missing region', async () => {
    let restore = useEnv({...store.server.env, AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined})
    try {
      const error = await failure(store.bucket().list(() => true))
      expect(error.sentence).to.include('Could not load credentials').and.include('AWS_PROFILE')
    } finally {
      restore()
    }

    restore = useEnv({...store.server.env, AWS_ENDPOINT_URL_S3: undefined, AWS_REGION: undefined})
    try {
      const error = await failure(store.bucket().list(() => true))
      expect(error.sentence).to.include('Region is missing').and.include('set AWS_REGION')
    } finally {
      restore()
    }
  })

  it('reports a missing archive as not found (exit 1), not as a store failure', async () => {
    const error = await failure(store.bucket().fetch('vpo-library-missing.tar.gz', store.scratch))
    expect(error.code).to.equal('BACKUP_NOT_FOUND')
    expect(error.sentence).to.include(
      `s3://${store.bucketName}/${store.prefix}vpo-library-missing.tar.gz does not exist`,
    )
    expect(fs.readdirSync(store.scratch).filter((name) => name !== 'staging')).to.deep.equal([])
  })

  it('reports a download that fills the local disk as exit 5, not as a store failure', async function () {
    const small = path.join(store.scratch, 'small-disk')
    if (!mountTmpfs(small, '1m')) this.skip() // needs root
    try {
      const target = store.bucket()
      await target.commit(await store.stage(target, crypto.randomBytes(3 * MiB)), NAME, {overwrite: false})
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
    expect(error.sentence)
      .to.include('NoSuchBucket')
      .and.include('s3://no-such-bucket/backups/')
      .and.include('create the bucket')
  })

  it('names a 403 without retrying', async () => {
    store.proxy.inject({
      fault: {kind: 'error', status: 403, code: 'AccessDenied', message: 'Access Denied'},
      times: Infinity,
    })
    const error = await failure(store.bucket().readHead(NAME, 4096))
    expect(error.sentence).to.include('AccessDenied: Access Denied').and.include('permissions')
    expect(store.proxy.requests.length).to.equal(1)
  })

  it('gives up on an unreachable endpoint in bounded time', async () => {
    const port = await closedPort()
    const restore = useEnv({...store.server.env, AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${port}`})
    try {
      const started = Date.now()
      const error = await failure(store.bucket().list(() => true))
      expect(Date.now() - started).to.be.below(5000)
      expect(error.sentence).to.include('ECONNREFUSED').and.include('AWS_ENDPOINT_URL_S3')
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
