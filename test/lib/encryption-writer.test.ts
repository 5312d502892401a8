/**
 * AgeFileWriter takes the archive writer's own positional writes (appends, then the metadata
 * patched in at offset 0) and yields the same plaintext as a plain file given the same writes.
 */
import {expect} from 'chai'
import crypto from 'node:crypto'
import fs from 'node:fs'
import fsp, {type FileHandle} from 'node:fs/promises'
import path from 'node:path'

import {ParallelGzipWriter, writeFully} from '../../src/lib/archive/gzip-members.js'
import {AgeFileWriter, CHUNK_SIZE, decryptFile, loadIdentities, parseRecipients} from '../../src/lib/encryption/index.js'
import {type LocalKey, makeLocalKey} from '../helpers/age-files.js'
import {HAS_AGE, runOk, seededBytes} from '../helpers/age.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

type Sink = Pick<FileHandle, 'sync' | 'write' | 'writev'>

describe('age encryption: AgeFileWriter, encrypting while the archive is written', () => {
  let dir: string
  let key: LocalKey
  let count = 0

  before(async () => {
    dir = makeTempDir('vpo-age-writer')
    key = await makeLocalKey(dir, 'key.txt')
  })

  after(() => cleanupTempDirs())

  /** Runs `writes` against a plain file and an AgeFileWriter; returns both paths. */
  async function both(writes: (sink: Sink) => Promise<void>): Promise<{plain: string; sealed: string}> {
    count++
    const plain = path.join(dir, `plain-${count}`)
    const sealed = `${plain}.age`
    const file = await fsp.open(plain, 'wx', 0o600)
    await writes(file)
    await file.close()
    const writer = await AgeFileWriter.create(sealed, parseRecipients([key.recipient]))
    await writes(writer as unknown as Sink)
    await writer.finish()
    await writer.close()
    return {plain, sealed}
  }

  async function expectSame({plain, sealed}: {plain: string; sealed: string}): Promise<void> {
    await decryptFile(sealed, `${sealed}.out`, await loadIdentities([key.identityFile]))
    expect(fs.readFileSync(`${sealed}.out`).equals(fs.readFileSync(plain))).to.equal(true)
    expect(fs.statSync(sealed).mode % 0o1000).to.equal(0o600)
    if (HAS_AGE) expect(runOk('age', ['-d', '-i', key.identityFile, sealed]).equals(fs.readFileSync(plain))).to.equal(true)
  }

  for (const size of [0, 700, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE, 5 * CHUNK_SIZE + 99, 3_000_000]) {
    it(`${size} bytes: a 1 KiB head patched in last, the rest appended in odd pieces`, async () => {
      const data = seededBytes(size, size)
      const reserved = Math.min(1024, size)
      await expectSame(
        await both(async (sink) => {
          for (let at = reserved, piece = 1; at < size; at += piece, piece = 1 + ((piece * 7 + 13) % 200_000)) {
            await writeFully(sink as FileHandle, data.subarray(at, Math.min(size, at + piece)), at)
          }

          if (reserved > 0) await writeFully(sink as FileHandle, data.subarray(0, reserved), 0)
          await sink.sync()
        }),
      )
    })
  }

  it("the archive writer's ParallelGzipWriter writes through it unchanged, head last", async () => {
    const members = Array.from({length: 12}, (_, i) => seededBytes(300_000 + i * 1000, i))
    const head = crypto.randomBytes(1100)
    await expectSame(
      await both(async (sink) => {
        const gzip = new ParallelGzipWriter(sink as FileHandle, {level: 1, position: head.length})
        for (const member of members) await gzip.addMember(member)
        await gzip.finish()
        await writeFully(sink as FileHandle, head, 0)
        await sink.sync()
      }),
    )
  })

  it('refuses to rewrite bytes past the first chunk', async () => {
    const writer = await AgeFileWriter.create(path.join(dir, 'rewrite.age'), parseRecipients([key.recipient]))
    await writer.write(seededBytes(3 * CHUNK_SIZE, 1), 0, 3 * CHUNK_SIZE, 0)
    let failed = false
    await writer.write(Buffer.alloc(10), 0, 10, CHUNK_SIZE + 5).catch(() => (failed = true))
    expect(failed).to.equal(true)
    await writer.abandon()
    expect(fs.existsSync(path.join(dir, 'rewrite.age'))).to.equal(false)
  })
})
