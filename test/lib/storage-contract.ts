/* eslint-disable mocha/no-exports -- a shared suite, called by each target's own test file */
/**
 * What every BackupTarget promises (src/lib/storage/target.ts), as one suite that runs against
 * each implementation: the local directory, the S3 bucket and the in-memory target must be
 * indistinguishable to the commands that use them. The edge cases (missing names, the ends of a
 * ranged read, publishing while another listing runs, large objects, unusual names) are in
 * ./storage-contract-edges.ts, after restic's backend tests and Litestream's replica client tests.
 */
import {expect} from 'chai'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

import type {BackupTarget} from '../../src/lib/storage/target.js'

import {type ContractContext, edgeCases} from './storage-contract-edges.js'

export interface ContractFixture {
  /** An empty target. */
  target: BackupTarget
  /** The same kind of target at a location that does not exist. */
  missing: BackupTarget
  /** Makes `name` exist in the target as something other than a regular archive (a directory, a dangling link, a `name/` key). */
  addNonRegular(name: string): Promise<void>
  /** A private local directory for downloads. */
  scratchDir: string
  /**
   * False for a test server that assembles a finished multipart object in place, so a listing
   * can catch it growing (s3rver); real stores and the other targets publish a name whole.
   */
  publishesAtomically?: false
  /** A size that is "large" for this target: past the multipart threshold for an object store. */
  largeBytes: number
  cleanup(): Promise<void>
}

const isBackup = (name: string): boolean => /^vpo-library-.*\.tar\.gz$/.test(name)

export function targetContract(name: string, makeFixture: () => Promise<ContractFixture>): void {
  describe(`BackupTarget contract: ${name}`, () => {
    let fixture: ContractFixture
    let target: BackupTarget
    let staged: string[] = []

    beforeEach(async () => {
      fixture = await makeFixture()
      target = fixture.target
    })

    afterEach(async () => {
      // A commit that returned false leaves its staged file to the caller: that is us.
      for (const file of staged) fs.rmSync(file, {force: true})
      staged = []
      await fixture.cleanup()
    })

    async function stage(bytes: Buffer): Promise<string> {
      const dir = await target.prepareStaging()
      const file = path.join(dir, `staged-${crypto.randomBytes(4).toString('hex')}`)
      fs.writeFileSync(file, bytes)
      staged.push(file)
      return file
    }

    async function store(archive: string, bytes: Buffer): Promise<void> {
      expect(await target.commit(await stage(bytes), archive, {overwrite: false})).to.equal(true)
    }

    async function contents(archive: string): Promise<Buffer> {
      const fetched = await target.fetch(archive, fixture.scratchDir)
      try {
        return fs.readFileSync(fetched.path)
      } finally {
        fetched.dispose()
      }
    }

    edgeCases({
      fixture: () => fixture,
      target: () => target,
      stage,
      store,
      contents,
    } satisfies ContractContext)

    it('stages in a private directory', async () => {
      const dir = await target.prepareStaging()
      const stat = fs.statSync(dir)
      expect(stat.isDirectory()).to.equal(true)
      expect(stat.mode & 0o077, 'group/other permission bits').to.equal(0)
    })

    it('lists only regular archives whose names are candidates, with size and time', async () => {
      const before = Date.now() - 5000
      const bytes = crypto.randomBytes(3000)
      await store('vpo-library-20260101-000000.tar.gz', bytes)
      await store('notes.txt', crypto.randomBytes(10))
      await fixture.addNonRegular('vpo-library-20260102-000000.tar.gz')

      const listed = await target.list(isBackup)
      expect(listed.map((entry) => entry.name)).to.deep.equal(['vpo-library-20260101-000000.tar.gz'])
      expect(listed[0].sizeBytes).to.equal(3000)
      expect(listed[0].modifiedAt.getTime()).to.be.within(before, Date.now() + 5000)
      expect(target.addressOf(listed[0].name)).to.include(listed[0].name)
    })

    it('lists a missing location as empty', async () => {
      expect(await fixture.missing.list(() => true)).to.deep.equal([])
    })

    it('reads exactly the head it is asked for, or the whole of a shorter archive', async () => {
      const bytes = crypto.randomBytes(10_000)
      await store('vpo-library-a.tar.gz', bytes)
      await store('vpo-library-b.tar.gz', bytes.subarray(0, 5))
      expect(await target.readHead('vpo-library-a.tar.gz', 4096)).to.deep.equal(bytes.subarray(0, 4096))
      expect(await target.readHead('vpo-library-a.tar.gz', 1)).to.deep.equal(bytes.subarray(0, 1))
      expect(await target.readHead('vpo-library-b.tar.gz', 4096)).to.deep.equal(bytes.subarray(0, 5))
    })

    it('fetches identical bytes as a local file, and the archive survives dispose', async () => {
      const bytes = crypto.randomBytes(200_000)
      await store('vpo-library-a.tar.gz', bytes)
      const fetched = await target.fetch('vpo-library-a.tar.gz', fixture.scratchDir)
      expect(fs.readFileSync(fetched.path).equals(bytes)).to.equal(true)
      fetched.dispose()
      expect(await contents('vpo-library-a.tar.gz')).to.deep.equal(bytes)
    })

    it('consumes the staged file when it commits', async () => {
      const staged = await stage(crypto.randomBytes(100))
      expect(await target.commit(staged, 'vpo-library-a.tar.gz', {overwrite: false})).to.equal(true)
      expect(fs.existsSync(staged)).to.equal(false)
    })

    it('never replaces an existing archive without overwrite, and replaces it with', async () => {
      const first = crypto.randomBytes(1000)
      const second = crypto.randomBytes(2000)
      await store('vpo-library-a.tar.gz', first)

      expect(await target.commit(await stage(second), 'vpo-library-a.tar.gz', {overwrite: false})).to.equal(false)
      expect(await contents('vpo-library-a.tar.gz')).to.deep.equal(first)

      expect(await target.commit(await stage(second), 'vpo-library-a.tar.gz', {overwrite: true})).to.equal(true)
      expect(await contents('vpo-library-a.tar.gz')).to.deep.equal(second)
      expect((await target.list(isBackup)).map((entry) => entry.sizeBytes)).to.deep.equal([2000])
    })

    it('removes an archive, and removing it again is not an error', async () => {
      await store('vpo-library-a.tar.gz', crypto.randomBytes(100))
      await store('vpo-library-b.tar.gz', crypto.randomBytes(100))
      await target.remove('vpo-library-a.tar.gz')
      await target.remove('vpo-library-a.tar.gz')
      expect((await target.list(isBackup)).map((entry) => entry.name)).to.deep.equal(['vpo-library-b.tar.gz'])
    })
  })
}
