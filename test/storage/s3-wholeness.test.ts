/**
 * Wholeness against a real S3 server: an upload that fails after the store kept an object under
 * the final name takes that object back (issue 16, item 2), and a listing of 50 remote archives,
 * each checked from ranged reads of its head and tail, stays within a second on loopback.
 */
import {ListObjectsV2Command, PutObjectCommand, S3Client} from '@aws-sdk/client-s3'
import {expect} from 'chai'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

import {writeArchive} from '../../src/lib/archive/index.js'
import {listBackups} from '../../src/lib/repository/listing.js'
import {S3Bucket} from '../../src/lib/storage/s3-bucket.js'
import {regularName} from '../helpers/backup-copies.js'
import {runCli} from '../helpers/cli.js'
import {failure, MiB, NAME, useFaultyStore} from '../helpers/faulty-store.js'
import {makeDataDir} from '../helpers/libraries.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

const internalError = {
  kind: 'error',
  status: 500,
  code: 'InternalError',
  message: 'We encountered an internal error.',
} as const

describe('S3 wholeness: failed uploads leave no object, listings read heads and tails', function () {
  this.timeout(180_000)
  const store = useFaultyStore('vpo-whole-s3')

  after(() => cleanupTempDirs())

  it('a single upload the store kept, whose every answer was lost, is deleted when the upload fails', async () => {
    // The first PUT reaches the store and its reply is lost; every retry then fails.
    store.proxy.inject({method: 'PUT', fault: {kind: 'drop-response'}})
    store.proxy.inject({method: 'PUT', fault: internalError, times: Number.POSITIVE_INFINITY})
    const target = store.bucket()
    const error = await failure(
      target.commit(await store.stage(target, crypto.randomBytes(4000)), NAME, {overwrite: false}),
    )
    expect(error.code).to.equal('STORAGE_ERROR')
    expect(await store.exists(NAME), 'no object under the final name').to.equal(false)
  })

  it('a multipart upload the store completed, whose answer was lost, is deleted when the upload fails', async () => {
    store.proxy.inject({method: 'POST', url: /uploadId=/, fault: {kind: 'drop-response'}})
    store.proxy.inject({method: 'POST', url: /uploadId=/, fault: internalError, times: Number.POSITIVE_INFINITY})
    const target = store.bucket()
    const error = await failure(
      target.commit(await store.stage(target, crypto.randomBytes(11 * MiB)), NAME, {overwrite: false}),
    )
    expect(error.code).to.equal('STORAGE_ERROR')
    expect(await store.exists(NAME), 'no object under the final name').to.equal(false)
    expect(await store.danglingUploads()).to.equal(0)
  })

  it('a real library:backup to s3:// whose upload the store kept but never confirmed: exit 8, no object left', async () => {
    const library = makeDataDir({files: 300, walFiles: 0})
    store.proxy.inject({method: 'PUT', fault: {kind: 'drop-response'}})
    store.proxy.inject({method: 'PUT', fault: internalError, times: Number.POSITIVE_INFINITY})
    const url = `s3://${store.bucketName}/${store.prefix}`
    // The child reaches the store through the proxy (process.env is set by the store's hooks).
    const result = await runCli(['library:backup', '--output', url], {
      env: {...library.env, TMPDIR: makeTempDir('vpo-tmp')},
    })
    expect(result.code, result.stdout + result.stderr).to.equal(8)
    expect(store.proxy.faultsApplied('drop-response'), 'the first upload reached the store').to.equal(1)
    const direct = new S3Client({endpoint: store.server.endpoint, forcePathStyle: true})
    try {
      const page = await direct.send(new ListObjectsV2Command({Bucket: store.bucketName, Prefix: store.prefix}))
      expect(page.Contents ?? [], 'nothing under the prefix').to.deep.equal([])
    } finally {
      direct.destroy()
    }
  })

  it('lists 50 remote archives, each checked whole from its head and tail', async () => {
    const library = makeDataDir({files: 4000, walFiles: 0})
    const archivePath = path.join(makeTempDir('vpo-fifty'), 'a.tar.gz')
    await writeArchive({
      archivePath,
      databasePath: library.databasePath,
      knownMetadata: {
        vpo_version: '0.1.0',
        schema_version: 27,
        created_at: '2026-01-01T00:00:00Z',
        file_count: 4000,
        total_library_size_bytes: 1,
      },
    })
    const bytes = fs.readFileSync(archivePath)
    const direct = new S3Client({endpoint: store.server.endpoint, forcePathStyle: true})
    try {
      for (let day = 0; day < 50; day++) {
        const name = regularName(new Date(Date.UTC(2026, 0, 1 + day)).toISOString().slice(0, 19) + 'Z')
        await direct.send(new PutObjectCommand({Bucket: store.bucketName, Key: store.prefix + name, Body: bytes}))
      }
    } finally {
      direct.destroy()
    }

    // Straight to the store: the proxy only adds its own hop.
    process.env.AWS_ENDPOINT_URL_S3 = store.server.endpoint // restored by the store's afterEach
    const target = new S3Bucket(`s3://${store.bucketName}/${store.prefix}`)
    await listBackups(target) // warm: connections, the SDK's lazy modules
    const times: number[] = []
    for (let run = 0; run < 3; run++) {
      const started = performance.now()
      const listing = await listBackups(target)
      times.push(performance.now() - started)
      expect(listing.backups).to.have.lengthOf(50)
      expect(listing.backups.every((entry) => entry.whole === true && entry.metadata !== null)).to.equal(true)
    }

    // How fast is for `npm run bench` to say (a timed test fails on a busy machine, not on slow code).
    times.sort((a, b) => a - b)
    console.log(`      50 remote archives listed in ${times.map((ms) => Math.round(ms)).join(', ')} ms`)
  })
})
