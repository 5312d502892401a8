/* eslint-disable mocha/no-exports -- cases of the shared suite in ./storage-contract.ts */
/**
 * The contract at its edges, where restic's backend tests and Litestream's replica client tests
 * found real stores to differ: names that are not there, the ends of a ranged read, a publish that
 * meets an existing name or a listing half way, an abandoned staging, objects large enough for
 * multipart uploads, and names a careless script might produce.
 */
import {expect} from 'chai'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

import type {BackupTarget} from '../../src/lib/storage/target.js'
import type {ContractFixture} from './storage-contract.js'

import {tempPathIn} from '../../src/lib/fs/temp-files.js'

export interface ContractContext {
  fixture(): ContractFixture
  target(): BackupTarget
  /** A file in the target's staging directory holding `bytes`, removed after the test. */
  stage(bytes: Buffer): Promise<string>
  /** Stages and commits `bytes` as `name` (without overwrite), expecting success. */
  store(name: string, bytes: Buffer): Promise<void>
  contents(name: string): Promise<Buffer>
}

const ARCHIVE = 'vpo-library-2026-01-01T000000Z.tar.gz'
const isArchive = (name: string): boolean => name.endsWith('.tar.gz')

async function rejects(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise
  } catch (error) {
    return error as Error
  }

  expect.fail('expected a rejection')
}

export function edgeCases(context: ContractContext): void {
  const {stage, store, contents} = context

  it('answers stat for a missing name with nothing, and every read of it with an error', async () => {
    const target = context.target()
    await store('vpo-library-a.tar.gz.age', crypto.randomBytes(50))
    // A name that is a prefix of another is not that other.
    for (const missing of [ARCHIVE, 'vpo-library-a.tar.gz']) {
      expect(await target.stat(missing), missing).to.equal(undefined)
      await rejects(target.readHead(missing, 10))
      await rejects(target.readRange(missing, 0, 10))
      await rejects(target.fetch(missing, context.fixture().scratchDir))
    }

    expect(await context.fixture().missing.stat(ARCHIVE)).to.equal(undefined)
  })

  it('answers stat as list does: size and time for a regular archive, nothing for anything else', async () => {
    const target = context.target()
    await store(ARCHIVE, crypto.randomBytes(777))
    await context.fixture().addNonRegular('vpo-library-folder.tar.gz')
    const [listed] = await target.list((name) => name === ARCHIVE)
    const stat = await target.stat(ARCHIVE)
    expect(stat).to.deep.include({name: ARCHIVE, sizeBytes: 777})
    expect(stat!.modifiedAt.getTime()).to.equal(listed.modifiedAt.getTime())
    expect(await target.stat('vpo-library-folder.tar.gz')).to.equal(undefined)
  })

  it('removes a name that never existed without an error, and leaves the others', async () => {
    const target = context.target()
    await store(ARCHIVE, crypto.randomBytes(10))
    await target.remove('vpo-library-never.tar.gz')
    await context.fixture().missing.remove(ARCHIVE)
    expect((await target.list(isArchive)).map((entry) => entry.name)).to.deep.equal([ARCHIVE])
  })

  it('reads ranges at the ends: none, the last byte, past the end, and an empty archive', async () => {
    const target = context.target()
    const bytes = crypto.randomBytes(4096)
    await store(ARCHIVE, bytes)
    await store('vpo-library-empty.tar.gz', Buffer.alloc(0))
    expect(await target.readRange(ARCHIVE, 0, 0)).to.have.length(0)
    expect(await target.readRange(ARCHIVE, 4095, 1)).to.deep.equal(bytes.subarray(4095))
    expect(await target.readRange(ARCHIVE, 4090, 100)).to.deep.equal(bytes.subarray(4090))
    expect(await target.readRange(ARCHIVE, 4096, 10)).to.have.length(0)
    expect(await target.readRange(ARCHIVE, 10_000, 10)).to.have.length(0)
    expect(await target.readRange(ARCHIVE, 1000, 24)).to.deep.equal(bytes.subarray(1000, 1024))
    // No ranged read of an empty archive: s3rver leaves it unanswered, so callers check the size first.
    expect(await target.stat('vpo-library-empty.tar.gz')).to.deep.include({sizeBytes: 0})
    expect(await contents('vpo-library-empty.tar.gz')).to.have.length(0)
  })

  it('stores a large archive whole: listed at its size, identical when fetched and across a part boundary', async function () {
    this.timeout(60_000)
    const target = context.target()
    const size = context.fixture().largeBytes
    const bytes = crypto.randomBytes(size)
    await store(ARCHIVE, bytes)
    expect((await target.list(isArchive)).map((entry) => entry.sizeBytes)).to.deep.equal([size])
    const boundary = 5 * 1024 * 1024
    expect(await target.readRange(ARCHIVE, boundary - 2, 4)).to.deep.equal(bytes.subarray(boundary - 2, boundary + 2))
    expect((await contents(ARCHIVE)).equals(bytes)).to.equal(true)
  })

  it('keeps names with spaces and non-ASCII letters exactly as given', async () => {
    const target = context.target()
    const name = 'vpo-library-2026 01 01 Ünïcödé 日本 ✓.tar.gz'
    const bytes = crypto.randomBytes(300)
    await store(name, bytes)
    expect((await target.list(isArchive)).map((entry) => entry.name)).to.deep.equal([name])
    expect(await target.stat(name)).to.deep.include({name, sizeBytes: 300})
    expect(await target.readHead(name, 10)).to.deep.equal(bytes.subarray(0, 10))
    expect(await contents(name)).to.deep.equal(bytes)
    expect(target.addressOf(name)).to.include(name)
    await target.remove(name)
    expect(await target.list(isArchive)).to.deep.equal([])
  })

  it('never lists what is staged, and lists a published archive only whole', async function () {
    this.timeout(60_000)
    const target = context.target()
    // Staged as the commands stage: a temporary name in the staging directory.
    const dir = await target.prepareStaging()
    const staged = tempPathIn(dir, 'tar.gz')
    const bytes = crypto.randomBytes(context.fixture().largeBytes)
    fs.writeFileSync(staged, bytes)
    try {
      expect(await target.list(() => true)).to.deep.equal([])
      const publishing = target.commit(staged, ARCHIVE, {overwrite: false})
      const seen: number[] = []
      const state = {done: false}
      publishing.finally(() => {
        state.done = true
      })
      while (!state.done) {
        for (const entry of await target.list(isArchive)) seen.push(entry.sizeBytes)
        // A target that answers from memory must still let the publish make progress.
        await new Promise((resolve) => {
          setImmediate(resolve)
        })
      }

      expect(await publishing).to.equal(true)
      const partial = seen.filter((size) => size !== bytes.length)
      if (context.fixture().publishesAtomically === false)
        expect(partial.every((size) => size < bytes.length)).to.equal(true)
      else expect(partial, 'sizes listed while publishing').to.deep.equal([])
      expect((await target.list(() => true)).map((entry) => entry.name)).to.deep.equal([ARCHIVE])
    } finally {
      fs.rmSync(staged, {force: true})
    }
  })

  it('keeps the existing bytes when a publish without overwrite meets the name, and leaves the staged file to its owner', async () => {
    const target = context.target()
    const first = crypto.randomBytes(1000)
    await store(ARCHIVE, first)
    const staged = await stage(crypto.randomBytes(5000))
    expect(await target.commit(staged, ARCHIVE, {overwrite: false})).to.equal(false)
    expect(fs.existsSync(staged), 'the staged file').to.equal(true)
    expect(await contents(ARCHIVE)).to.deep.equal(first)
    expect(await target.list(isArchive)).to.have.length(1)
  })

  it('leaves nothing behind when staging is abandoned or a publish fails', async () => {
    const target = context.target()
    const dir = await target.prepareStaging()
    const failed = await rejects(target.commit(path.join(dir, 'never-written.tar.gz'), ARCHIVE, {overwrite: false}))
    expect(failed.message).to.be.a('string')
    await target.abandonStaging()
    expect(await target.list(() => true)).to.deep.equal([])
    expect(await target.stat(ARCHIVE)).to.equal(undefined)
    // A directory the target made for staging goes again (this fixture's location did not exist).
    const onDisk = target.localPath(ARCHIVE)
    if (onDisk !== undefined) expect(fs.existsSync(path.dirname(onDisk)), 'the location directory').to.equal(false)
  })

  it('fetches into a scratch directory of its own, and a downloaded copy is gone after dispose', async () => {
    const target = context.target()
    const bytes = crypto.randomBytes(2000)
    await store(ARCHIVE, bytes)
    const fetched = await target.fetch(ARCHIVE)
    expect(fs.readFileSync(fetched.path)).to.deep.equal(bytes)
    const onDisk = target.localPath(ARCHIVE)
    fetched.dispose()
    if (onDisk === undefined) {
      expect(fs.existsSync(fetched.path), 'the downloaded copy').to.equal(false)
    } else {
      // The archive itself was handed out: dispose must never delete it.
      expect(fetched.path).to.equal(onDisk)
      expect(fs.readFileSync(onDisk)).to.deep.equal(bytes)
    }
  })
}
