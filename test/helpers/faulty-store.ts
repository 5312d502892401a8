/* eslint-disable mocha/no-exports, mocha/no-top-level-hooks -- shared set-up: its hooks run inside the calling describe() */
/**
 * A real s3rver behind our fault proxy, set up around each test of the calling suite: a fresh key
 * prefix, AWS settings pointing at the proxy, short retry bounds, multipart from 5 MiB (S3's
 * smallest part, so a 12 MiB archive is three parts), and a direct client to inspect the store.
 */
import {HeadObjectCommand, ListMultipartUploadsCommand, S3Client} from '@aws-sdk/client-s3'
import {expect} from 'chai'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {LibraryBackupError} from '../../src/lib/errors.js'
import {S3Bucket} from '../../src/lib/storage/s3-bucket.js'
import {FaultProxy} from './fault-proxy.js'
import {type S3Server, startS3Server, useEnv} from './s3-server.js'

export const MiB = 1024 * 1024
export const NAME = 'vpo-library-20260101-000000.tar.gz'

export interface FaultyStore {
  readonly bucketName: string
  readonly server: S3Server
  readonly proxy: FaultProxy
  readonly scratch: string
  readonly prefix: string
  /** The S3 target under test, reaching the store through the proxy. */
  bucket(): S3Bucket
  stage(target: S3Bucket, bytes: Buffer): Promise<string>
  /** The archive's bytes, fetched through a proxy with no faults left. */
  storedBytes(name: string): Promise<Buffer>
  /** Asked of the store directly, past the proxy. */
  exists(name: string): Promise<boolean>
  danglingUploads(): Promise<number>
}

/** Installs the hooks in the calling describe(); the fields are valid inside its tests. */
export function useFaultyStore(bucketName: string): FaultyStore {
  let direct: S3Client
  let restoreEnv: () => void
  const store = {bucketName, prefix: ''} as FaultyStore & {
    prefix: string
    proxy: FaultProxy
    scratch: string
    server: S3Server
  }

  before(async () => {
    store.server = await startS3Server([bucketName])
    store.proxy = await FaultProxy.start(store.server.endpoint)
    store.scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'vpo-s3-faults-'))
  })

  after(async () => {
    await store.proxy?.stop()
    await store.server?.stop()
    fs.rmSync(store.scratch, {recursive: true, force: true})
  })

  beforeEach(() => {
    store.prefix = `t-${crypto.randomBytes(4).toString('hex')}/`
    store.proxy.clear()
    restoreEnv = useEnv({
      ...store.server.env,
      AWS_ENDPOINT_URL_S3: store.proxy.endpoint,
      VPO_S3_MULTIPART_THRESHOLD: String(5 * MiB),
      VPO_S3_PART_SIZE: String(5 * MiB),
    })
    direct = new S3Client({endpoint: store.server.endpoint, forcePathStyle: true})
  })

  afterEach(() => {
    direct.destroy()
    restoreEnv()
  })

  store.bucket = () =>
    new S3Bucket(`s3://${bucketName}/${store.prefix}`, {stagingDir: path.join(store.scratch, 'staging')})

  store.stage = async (target, bytes) => {
    const file = path.join(await target.prepareStaging(), `staged-${crypto.randomBytes(4).toString('hex')}`)
    fs.writeFileSync(file, bytes)
    return file
  }

  store.storedBytes = async (name) => {
    store.proxy.clear()
    const fetched = await store.bucket().fetch(name, store.scratch)
    const bytes = fs.readFileSync(fetched.path)
    fetched.dispose()
    return bytes
  }

  store.exists = async (name) => {
    try {
      await direct.send(new HeadObjectCommand({Bucket: bucketName, Key: store.prefix + name}))
      return true
    } catch {
      return false
    }
  }

  store.danglingUploads = async () => {
    const listed = await direct.send(new ListMultipartUploadsCommand({Bucket: bucketName}))
    return listed.Uploads?.length ?? 0
  }

  return store
}

/** The error a failing promise ends with: ours, in one sentence, never a stack trace. */
export async function failure(promise: Promise<unknown>): Promise<LibraryBackupError> {
  try {
    await promise
  } catch (error) {
    expect(error).to.be.instanceOf(LibraryBackupError)
    const err = error as LibraryBackupError
    expect(err.sentence, 'one sentence, no stack').to.match(/^[^\n]+\.$/)
    return err
  }

  expect.fail('expected a failure')
}
