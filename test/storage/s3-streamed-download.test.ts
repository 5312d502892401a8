/**
 * A restore reads a plain archive from object storage while it downloads (StreamedDownload). The
 * bytes a read gets must be the object's own, a read must not wait for the whole object, and a
 * download that fails or starts over must fail the reads and whole(), never hand out other bytes.
 * Real s3rver behind the fault proxy.
 */
import {expect} from 'chai'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

import {LibraryBackupError} from '../../src/lib/errors.js'
import {MiB, NAME, useFaultyStore} from '../helpers/faulty-store.js'
import {listTemps} from '../helpers/leftovers.js'

/** GETs of the archive itself; a listing names the archive in its query only. */
const ARCHIVE_GET = /^[^?]*\.tar\.gz/

/** Settles within `ms`, or says it is still pending. */
async function settledWithin(promise: Promise<unknown>, ms: number): Promise<'pending' | 'rejected' | 'resolved'> {
  const timeout = new Promise<'pending'>((resolve) => {
    setTimeout(() => resolve('pending'), ms)
  })
  return Promise.race([
    promise.then(
      () => 'resolved' as const,
      () => 'rejected' as const,
    ),
    timeout,
  ])
}

describe('S3 bucket: an archive read while it downloads', () => {
  const store = useFaultyStore('vpo-streamed')

  async function stored(bytes: Buffer) {
    const target = store.bucket()
    await target.commit(await store.stage(target, bytes), NAME, {overwrite: false})
    store.proxy.clear()
    return target
  }

  it('serves the bytes already on disk before the download ends, then all of them, exactly', async () => {
    const bytes = crypto.randomBytes(3 * MiB + 12_345)
    const target = await stored(bytes)
    // The first GET stops after 1.5 MiB; the resume waits 0.8 s (under the idle timeout) before the store answers.
    store.proxy.inject({method: 'GET', url: ARCHIVE_GET, fault: {kind: 'truncate', afterResponseBytes: 1.5 * MiB}})
    store.proxy.inject({method: 'GET', url: ARCHIVE_GET, fault: {kind: 'stall', ms: 800}})
    const download = await target.stream(NAME, store.scratch)
    try {
      expect(download.size).to.equal(bytes.length)
      const reader = await download.open()
      const head = Buffer.alloc(MiB)
      expect((await reader.read(head, 0, MiB, 0)).bytesRead).to.equal(MiB)
      expect(head.equals(bytes.subarray(0, MiB))).to.equal(true)
      expect(await settledWithin(download.whole(), 0), 'read before the download was whole').to.equal('pending')

      const all = Buffer.alloc(bytes.length + 100)
      expect((await reader.read(all, 0, all.length, 0)).bytesRead).to.equal(bytes.length)
      expect(all.subarray(0, bytes.length).equals(bytes)).to.equal(true)
      await reader.finish()
      expect((await reader.read(all, 0, 10, bytes.length)).bytesRead).to.equal(0)
      const gets = store.proxy.requests.filter((entry) => entry.method === 'GET')
      expect(gets.map((entry) => entry.fault)).to.deep.equal(['truncate', 'stall'])
    } finally {
      await download.dispose()
    }

    expect(listTemps(store.scratch)).to.deep.equal([])
  })

  it('fails reads and whole() when the object changes after bytes were readable, and removes the scratch file', async () => {
    const bytes = crypto.randomBytes(3 * MiB)
    const target = await stored(bytes)
    store.proxy.inject({method: 'GET', url: ARCHIVE_GET, fault: {kind: 'truncate', afterResponseBytes: 1.5 * MiB}})
    // The resume, pinned to the first ETag, finds another object: the download would start over.
    store.proxy.inject({
      method: 'GET',
      url: ARCHIVE_GET,
      fault: {kind: 'error', status: 412, code: 'PreconditionFailed', message: 'At least one of the pre-conditions'},
    })
    const download = await target.stream(NAME, store.scratch)
    const reader = await download.open()
    const rest = reader.read(Buffer.alloc(MiB), 0, MiB, 2 * MiB)
    for (const outcome of [rest, download.whole(), reader.finish()]) {
      const error = await outcome.then(
        () => expect.fail('expected a failure'),
        (error_: unknown) => error_,
      )
      expect(error).to.be.instanceOf(LibraryBackupError)
      expect((error as LibraryBackupError).code).to.equal('STORAGE_ERROR')
      expect((error as LibraryBackupError).message)
        .to.include(target.addressOf(NAME))
        .and.include('changed')
    }

    await download.dispose()
    expect(listTemps(store.scratch)).to.deep.equal([])
  })

  it('rejects a read with the download error when the store keeps failing, and a missing name before any read', async () => {
    // Four attempts (the test settings) of 1 MiB each fall far short of 8 MiB.
    const target = await stored(crypto.randomBytes(8 * MiB))
    store.proxy.inject({
      method: 'GET',
      url: ARCHIVE_GET,
      fault: {kind: 'truncate', afterResponseBytes: MiB + 1000},
      times: Infinity,
    })
    const download = await target.stream(NAME, store.scratch)
    const reader = await download.open()
    const error = await reader.read(Buffer.alloc(100), 0, 100, 8 * MiB - 100).then(
      () => expect.fail('expected a failure'),
      (error_: unknown) => error_ as LibraryBackupError,
    )
    expect(error.code).to.equal('STORAGE_ERROR')
    expect(error.message).to.include(target.addressOf(NAME))
    await download.dispose()

    const missing = await target.stream('vpo-library-20990101-000000.tar.gz', store.scratch).then(
      () => expect.fail('expected a failure'),
      (error_: unknown) => error_ as LibraryBackupError,
    )
    expect(missing.code).to.equal('BACKUP_NOT_FOUND')
    expect(listTemps(store.scratch)).to.deep.equal([])
    expect(fs.readdirSync(path.join(store.scratch))).to.not.include(NAME)
  })
})
