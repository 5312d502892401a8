/** The one test of "is this an age file?", which decides whether a backup is decrypted first. */
import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'
import zlib from 'node:zlib'

import {ageFileKind, readAgeFileKind} from '../../src/lib/encryption/format.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

const latin1 = (text: string): Buffer => Buffer.from(text, 'latin1')

describe('ageFileKind', () => {
  after(cleanupTempDirs)

  it('names each kind of age file by its head, and nothing else as one', () => {
    expect(ageFileKind(latin1('age-encryption.org/v1\n-> X25519 abc\nbody\n--- mac\n'))).to.equal('age')
    expect(ageFileKind(latin1('age-encryption.org/v1\n-> scrypt salt 18\nbody\n--- mac\n'))).to.equal('age-passphrase')
    expect(ageFileKind(latin1('-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n'))).to.equal('age-armored')
    expect(ageFileKind(latin1(' \n\t-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n'))).to.equal('age-armored')
    // A later version is still an age file: refused for its header, not read as a broken gzip.
    expect(ageFileKind(latin1('age-encryption.org/v2\n-> X25519 abc\n'))).to.equal('age')
    expect(ageFileKind(zlib.gzipSync(latin1('age-encryption.org/v1\n')))).to.equal(undefined)
    expect(ageFileKind(latin1('age-encryption.or'))).to.equal(undefined)
    expect(ageFileKind(Buffer.alloc(0))).to.equal(undefined)
  })

  it('readAgeFileKind answers the same from a file, and nothing for one that cannot be opened', async () => {
    const dir = makeTempDir('vpo-age-kind')
    const armored = path.join(dir, 'armored.tar.gz.age')
    fs.writeFileSync(armored, `${' '.repeat(600)}-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n`)
    const plain = path.join(dir, 'plain.tar.gz')
    fs.writeFileSync(plain, zlib.gzipSync('not encrypted'))
    expect(await readAgeFileKind(armored)).to.equal('age-armored')
    expect(await readAgeFileKind(plain)).to.equal(undefined)
    expect(await readAgeFileKind(path.join(dir, 'missing.tar.gz.age'))).to.equal(undefined)
  })
})
