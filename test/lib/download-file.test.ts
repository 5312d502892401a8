/**
 * A download gathered into 1 MiB writes: the file holds exactly the bytes received, in place,
 * whether they came in one go, resumed after a cut, or started over because the object changed.
 */
import {expect} from 'chai'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import path from 'node:path'

import {DownloadFile} from '../../src/lib/storage/download-file.js'
import {seededBytes} from '../helpers/age.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

describe('storage: a download written into a local file', () => {
  let dir: string
  let attempt = 0

  before(() => {
    dir = makeTempDir('vpo-download-file')
  })

  after(() => cleanupTempDirs())

  /** Feeds `pieces` ([bytes, offset]) to a DownloadFile over a new file and returns what it holds. */
  async function downloaded(pieces: Array<[Buffer, number]>): Promise<Buffer> {
    const file = path.join(dir, `download-${++attempt}`)
    const handle = await fsp.open(file, 'wx', 0o600)
    try {
      const download = new DownloadFile(handle)
      for (const [bytes, offset] of pieces) await download.write(bytes, offset)
      await download.flush()
    } finally {
      await handle.close()
    }

    return fs.readFileSync(file)
  }

  /** `data` cut into network-sized pieces (16-64 KiB, uneven), starting at `from`. */
  function pieces(data: Buffer, from = 0): Array<[Buffer, number]> {
    const out: Array<[Buffer, number]> = []
    for (let i = 0, offset = from; offset < data.length; i++) {
      const size = 16_384 + ((i * 7919) % 49_152)
      out.push([data.subarray(offset, offset + size), offset])
      offset += size
    }

    return out
  }

  it('holds every byte of a 3.5 MiB object received in uneven pieces', async () => {
    const object = seededBytes(3.5 * 1024 * 1024, 11)
    expect((await downloaded(pieces(object))).equals(object)).to.equal(true)
  })

  it('a download resumed after a cut (a ranged read from where it stopped) is the object', async () => {
    const object = seededBytes(2 * 1024 * 1024 + 5000, 12)
    const cut = 1_300_000
    const first = pieces(object.subarray(0, cut))
    expect((await downloaded([...first, ...pieces(object, cut)])).equals(object)).to.equal(true)
  })

  it('a download that starts over (the object changed) holds only the new object, even a shorter one', async () => {
    const old = seededBytes(3 * 1024 * 1024, 13)
    const replacement = seededBytes(1_500_000, 14)
    // Past the first 1 MiB write of the old object, then the new one from byte 0.
    const partial = pieces(old).filter(([, offset]) => offset < 1_200_000)
    expect((await downloaded([...partial, ...pieces(replacement)])).equals(replacement)).to.equal(true)
  })

  it('an empty object leaves an empty file', async () => {
    expect((await downloaded([])).length).to.equal(0)
  })
})
