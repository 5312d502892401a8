/**
 * The S3 target against a real s3rver process: the shared target contract, plus what only an
 * object store has (its configuration, its multipart uploads, its SDK's warnings).
 */
import {CreateBucketCommand, PutObjectCommand, S3Client} from '@aws-sdk/client-s3'
import {expect} from 'chai'
import {spawnSync} from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {LibraryBackupError} from '../../src/lib/errors.js'
import {S3Bucket} from '../../src/lib/storage/s3-bucket.js'
import {ROOT} from '../helpers/cli.js'
import {type S3Server, startS3Server, useEnv} from '../helpers/s3-server.js'
import {targetContract} from '../lib/storage-contract.js'

const BUCKET = 'vpo-contract'

describe('S3 bucket target (s3rver)', () => {
  let server: S3Server
  let restoreEnv: () => void
  let scratch: string

  before(async () => {
    server = await startS3Server([BUCKET])
    restoreEnv = useEnv(server.env)
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'vpo-s3-test-'))
  })

  after(async () => {
    restoreEnv?.()
    await server?.stop()
    fs.rmSync(scratch, {recursive: true, force: true})
  })

  targetContract('S3 bucket on s3rver', async () => {
    const prefix = `run-${crypto.randomBytes(4).toString('hex')}/`
    // Large archives go up in parts, as they do in production past the (smallest allowed) threshold.
    const restoreMultipart = useEnv({
      ...server.env,
      VPO_S3_MULTIPART_THRESHOLD: String(5 * 1024 * 1024),
      VPO_S3_PART_SIZE: String(5 * 1024 * 1024),
    })
    const target = new S3Bucket(`s3://${BUCKET}/${prefix}`)
    const raw = new S3Client({})
    return {
      target,
      missing: new S3Bucket(`s3://${BUCKET}/never-written-${crypto.randomBytes(4).toString('hex')}/`),
      scratchDir: scratch,
      largeBytes: 11 * 1024 * 1024 + 17,
      publishesAtomically: false,
      async addNonRegular(name) {
        // What a console's "create folder" leaves, and an object one level further down.
        await raw.send(new PutObjectCommand({Bucket: BUCKET, Key: `${prefix}${name}/`, Body: '', ContentLength: 0}))
        await raw.send(new PutObjectCommand({Bucket: BUCKET, Key: `${prefix}${name}/inner.tar.gz`, Body: 'x'}))
      },
      async cleanup() {
        raw.destroy()
        restoreMultipart()
      },
    }
  })

  it('uploads a large archive in parts and reads it back identical', async () => {
    const restore = useEnv({
      ...server.env,
      VPO_S3_MULTIPART_THRESHOLD: String(5 * 1024 * 1024),
      VPO_S3_PART_SIZE: String(5 * 1024 * 1024),
    })
    try {
      const bucket = new S3Bucket(`s3://${BUCKET}/multipart/`)
      const bytes = crypto.randomBytes(12 * 1024 * 1024 + 17)
      const staged = path.join(
        await bucket.prepareStaging(),
        `staged-${process.pid}-${crypto.randomBytes(4).toString('hex')}`,
      )
      fs.writeFileSync(staged, bytes)
      expect(await bucket.commit(staged, 'vpo-library-big.tar.gz', {overwrite: false})).to.equal(true)
      const fetched = await bucket.fetch('vpo-library-big.tar.gz', scratch)
      expect(fs.statSync(fetched.path).mode & 0o777).to.equal(0o600)
      expect(fs.readFileSync(fetched.path).equals(bytes)).to.equal(true)
      fetched.dispose()
      expect(fs.existsSync(fetched.path)).to.equal(false)
    } finally {
      restore()
    }
  })

  it('works at the root of a bucket created through the API', async () => {
    await new S3Client({}).send(new CreateBucketCommand({Bucket: 'vpo-root'}))
    const bucket = new S3Bucket('s3://vpo-root')
    expect(bucket.location).to.equal('s3://vpo-root/')
    const staged = path.join(
      await bucket.prepareStaging(),
      `staged-${process.pid}-${crypto.randomBytes(4).toString('hex')}`,
    )
    fs.writeFileSync(staged, 'hello')
    expect(await bucket.commit(staged, 'vpo-library-a.tar.gz', {overwrite: false})).to.equal(true)
    expect((await bucket.list(() => true)).map((entry) => entry.name)).to.deep.equal(['vpo-library-a.tar.gz'])
    expect(bucket.addressOf('vpo-library-a.tar.gz')).to.equal('s3://vpo-root/vpo-library-a.tar.gz')
  })

  it('reports a local file problem as one sentence, not a stack trace', async () => {
    const bucket = new S3Bucket(`s3://${BUCKET}/local-problems/`)
    const missing = path.join(scratch, 'no-such-dir', 'staged')
    for (const attempt of [
      () => bucket.commit(missing, 'vpo-library-a.tar.gz', {overwrite: false}),
      () => bucket.fetch('x', path.join(scratch, 'no-such-dir')),
    ]) {
      try {
        await attempt()
        expect.fail('expected a failure')
      } catch (error) {
        expect(error).to.be.instanceOf(LibraryBackupError)
        expect((error as LibraryBackupError).sentence).to.match(/^[^\n]+no-such-dir[^\n]+\.$/)
      }
    }
  })

  it('prints no warning from the SDK on Node 20 (a child process, stderr checked)', () => {
    const script = [
      `import {S3Bucket} from ${JSON.stringify(path.join(ROOT, 'src/lib/storage/s3-bucket.ts'))}`,
      `const names = await new S3Bucket('s3://${BUCKET}/').list(() => true)`,
      `console.log(JSON.stringify(names.length))`,
    ].join('\n')
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      env: {...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: undefined},
      encoding: 'utf8',
    })
    expect(child.stderr).to.equal('')
    expect(child.status).to.equal(0)

    // The same client without our set-up does warn: the check above would notice a regression.
    const bare = spawnSync(
      process.execPath,
      [
        '-e',
        "require('@aws-sdk/client-s3').S3Client && new (require('@aws-sdk/client-s3').S3Client)({region: 'us-east-1'})",
      ],
      {
        cwd: ROOT,
        env: {...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: undefined},
        encoding: 'utf8',
      },
    )
    expect(bare.stderr).to.include(process.versions.node.startsWith('20.') ? 'NodeVersionSupportWarning' : '')
  })
})
