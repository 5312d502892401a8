/**
 * The decrypting random-access reader a restore inflates through: any position, in any order,
 * gives the plaintext `age -d` gives; finish() passes only when every chunk authenticated, the
 * final one included; an altered, missing or extra byte is INVALID_ARCHIVE, never a crash.
 */
import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'

import {
  encryptFile,
  loadIdentities,
  openPlaintext,
  parseRecipients,
  unlockFile,
} from '../../src/lib/encryption/index.js'
import {SEALED_CHUNK_SIZE} from '../../src/lib/encryption/stream.js'
import {expectCode, flipped, payloadOffset} from '../helpers/age-files.js'
import {type AgeKey, makeAgeKey, missingTools, runOk, seededBytes, writePattern} from '../helpers/age.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

const CHUNK = 65_536
/** More than two 32-chunk batches, the last chunk short: every batch turn and both ends. */
const PLAIN_SIZE = 70 * CHUNK + 1000

describe('age encryption: the decrypting random-access reader', () => {
  let dir: string
  let key: AgeKey
  let plain: Buffer
  const files: Record<'age CLI' | 'our writer', string> = {'age CLI': '', 'our writer': ''}
  let attempt = 0

  before(async function () {
    const missing = missingTools({age: true})
    if (missing) this.skip()
    dir = makeTempDir('vpo-plain-reader')
    key = makeAgeKey(dir)
    plain = writePattern(path.join(dir, 'plain'), PLAIN_SIZE)
    files['age CLI'] = path.join(dir, 'cli.age')
    runOk('age', ['-r', key.recipient, '-o', files['age CLI'], path.join(dir, 'plain')])
    files['our writer'] = path.join(dir, 'ours.age')
    await encryptFile(path.join(dir, 'plain'), files['our writer'], parseRecipients([key.recipient]))
  })

  after(() => cleanupTempDirs())

  async function open(file: string) {
    return openPlaintext(await unlockFile(file, await loadIdentities([key.identityFile])))
  }

  async function readAt(reader: Awaited<ReturnType<typeof open>>, position: number, length: number) {
    const buffer = Buffer.alloc(length)
    const {bytesRead} = await reader.read(buffer, 0, length, position)
    return buffer.subarray(0, bytesRead)
  }

  /** Writes `bytes` as a new file to open. */
  function variant(bytes: Buffer): string {
    const file = path.join(dir, `case-${++attempt}.age`)
    fs.writeFileSync(file, bytes)
    return file
  }

  for (const made of ['age CLI', 'our writer'] as const) {
    it(`reads a file from ${made} at scattered positions, jumping back and across batches, as age -d does`, async () => {
      const reader = await open(files[made])
      try {
        expect(reader.size).to.equal(PLAIN_SIZE)
        // Lengths that straddle chunk and batch ends; positions out of order, the last byte included.
        const lengths = seededBytes(40, 7)
        const positions = seededBytes(40 * 4, 8)
        for (let i = 0; i < 40; i++) {
          const position = positions.readUInt32LE(i * 4) % PLAIN_SIZE
          const length = 1 + lengths[i] * 1500
          const got = await readAt(reader, position, length)
          expect(got.equals(plain.subarray(position, position + length)), `${length} bytes at ${position}`).to.equal(
            true,
          )
        }

        expect((await readAt(reader, PLAIN_SIZE - 3, 10)).equals(plain.subarray(PLAIN_SIZE - 3))).to.equal(true)
        await reader.finish()
      } finally {
        await reader.close()
      }
    })
  }

  it('reads front to back in member-sized pieces after a far read left a read-ahead in flight', async () => {
    const reader = await open(files['our writer'])
    try {
      await readAt(reader, 40 * CHUNK, 10) // the third batch, with the end of the file read ahead
      const whole = Buffer.alloc(PLAIN_SIZE)
      for (let position = 0; position < PLAIN_SIZE; position += 300_000) {
        const length = Math.min(300_000, PLAIN_SIZE - position)
        const {bytesRead} = await reader.read(whole, position, length, position)
        expect(bytesRead).to.equal(length)
      }

      expect(whole.equals(plain)).to.equal(true)
      await reader.finish()
    } finally {
      await reader.close()
    }
  })

  it('reads a file of fewer chunks than a batch whole, and its last byte', async () => {
    const small = seededBytes(3 * CHUNK + 100, 9)
    fs.writeFileSync(path.join(dir, 'small'), small)
    const file = path.join(dir, 'small.age')
    runOk('age', ['-r', key.recipient, '-o', file, path.join(dir, 'small')])
    const reader = await open(file)
    try {
      expect((await readAt(reader, 0, small.length + 10)).equals(small)).to.equal(true)
      expect((await readAt(reader, small.length - 1, 1))[0]).to.equal(small.at(-1))
      await reader.finish()
    } finally {
      await reader.close()
    }
  })

  it('a flipped bit in the third batch: the first batch still reads, that chunk and finish() are INVALID_ARCHIVE', async () => {
    const sealed = fs.readFileSync(files['age CLI'])
    const reader = await open(variant(flipped(sealed, payloadOffset(sealed) + 66 * SEALED_CHUNK_SIZE + 7)))
    try {
      expect((await readAt(reader, 0, 1000)).equals(plain.subarray(0, 1000))).to.equal(true)
      await expectCode(readAt(reader, 66 * CHUNK, 10), 'INVALID_ARCHIVE')
      await expectCode(reader.finish(), 'INVALID_ARCHIVE')
    } finally {
      await reader.close()
    }
  })

  it('finish() authenticates the chunks never read: damage after the bytes read is still found', async () => {
    const sealed = fs.readFileSync(files['our writer'])
    const reader = await open(variant(flipped(sealed, sealed.length - 1)))
    try {
      expect((await readAt(reader, 0, 5000)).equals(plain.subarray(0, 5000))).to.equal(true)
      await expectCode(reader.finish(), 'INVALID_ARCHIVE')
    } finally {
      await reader.close()
    }
  })

  it('a file cut after whole chunks (no final chunk) is INVALID_ARCHIVE, however it is read', async () => {
    const sealed = fs.readFileSync(files['age CLI'])
    const cut = variant(sealed.subarray(0, payloadOffset(sealed) + 64 * SEALED_CHUNK_SIZE))
    const reader = await open(cut)
    try {
      // The last whole chunk is sealed as a middle one: read as the final one, it fails.
      await expectCode(readAt(reader, 63 * CHUNK, 10), 'INVALID_ARCHIVE')
      await expectCode(reader.finish(), 'INVALID_ARCHIVE')
    } finally {
      await reader.close()
    }
  })

  for (const extra of [1, 17, SEALED_CHUNK_SIZE]) {
    it(`${extra} bytes after the final chunk are INVALID_ARCHIVE (at open or at finish)`, async () => {
      const sealed = fs.readFileSync(files['our writer'])
      const extended = variant(
        Buffer.concat([sealed, sealed.subarray(payloadOffset(sealed), payloadOffset(sealed) + extra)]),
      )
      const finished = (async () => {
        const reader = await open(extended)
        try {
          await reader.finish()
        } finally {
          await reader.close()
        }
      })()
      await expectCode(finished, 'INVALID_ARCHIVE')
    })
  }
})
