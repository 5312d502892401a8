/**
 * Our age files and the `age` tool's are interchangeable both ways, for every recipient type we
 * accept, at the chunk-size edges, and for a real backup archive.
 */
import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'

import {readArchiveMetadata} from '../../src/lib/archive/reader.js'
import {writeArchive} from '../../src/lib/archive/writer.js'
import {
  CHUNK_SIZE,
  decryptFile,
  decryptHead,
  encryptFile,
  loadIdentities,
  parseRecipients,
} from '../../src/lib/encryption/index.js'
import {createLibrary} from '../fixtures/library-generator.js'
import {makeToolKeys, missingTools, runOk, type ToolKeys, writePattern} from '../helpers/age.js'
import {skipSaying} from '../helpers/skips.js'
import {cleanupTempDirs} from '../helpers/temp-dirs.js'

const SIZES = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE, 3 * CHUNK_SIZE + 12_345]

describe('age encryption: interoperability with the age tool', () => {
  let keys: ToolKeys
  /** Scratch files go beside the keys. */
  let dir: string

  before(function () {
    skipSaying(this, missingTools({age: true, ssh: true}))

    keys = makeToolKeys('vpo-age')
    dir = keys.dir
  })

  after(() => cleanupTempDirs())

  for (const size of SIZES) {
    it(`${size} bytes encrypted by us open with age -d, for X25519, ssh-ed25519 and ssh-rsa keys`, async () => {
      const plain = path.join(dir, `plain-${size}`)
      const sealed = path.join(dir, `plain-${size}.age`)
      const data = writePattern(plain, size, size)
      await encryptFile(
        plain,
        sealed,
        parseRecipients([keys.age.recipient, keys.ed25519.publicKey, keys.rsa.publicKey]),
      )
      expect(fs.statSync(sealed).mode % 0o1000).to.equal(0o600)
      for (const identity of [keys.age.identityFile, keys.ed25519.identityFile, keys.rsa.identityFile]) {
        expect(runOk('age', ['-d', '-i', identity, sealed]).equals(data), identity).to.equal(true)
      }
    })

    it(`${size} bytes encrypted by age -r / -R open with our code`, async () => {
      const plain = path.join(dir, `theirs-${size}`)
      const data = writePattern(plain, size, size + 7)
      const cases: Array<[string[], string]> = [
        [['-r', keys.age.recipient], keys.age.identityFile],
        [['-R', keys.ed25519.publicFile], keys.ed25519.identityFile],
        [['-R', keys.rsa.publicFile], keys.rsa.identityFile],
      ]
      for (const [[flag, value], identity] of cases) {
        const sealed = path.join(dir, `theirs-${size}-${path.basename(identity)}.age`)
        const out = `${sealed}.out`
        runOk('age', [flag, value, '-o', sealed, plain])
        const result = await decryptFile(sealed, out, await loadIdentities([identity]))
        expect(result.plainSizeBytes).to.equal(size)
        expect(fs.readFileSync(out).equals(data), identity).to.equal(true)
        expect(fs.statSync(out).mode % 0o1000).to.equal(0o600)
        expect(
          (await decryptHead(sealed, await loadIdentities([identity]), 100)).equals(data.subarray(0, 100)),
        ).to.equal(true)
      }
    })
  }

  it('an RSA key in the old PEM format (ssh-keygen -m PEM) opens files made with age -R', async () => {
    const pemKey = path.join(dir, 'id_rsa_pem')
    runOk('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-m', 'PEM', '-N', '', '-f', pemKey])
    expect(fs.readFileSync(pemKey, 'utf8')).to.include('BEGIN RSA PRIVATE KEY')
    const plain = path.join(dir, 'pem-plain')
    const data = writePattern(plain, 70_000, 5)
    runOk('age', ['-R', `${pemKey}.pub`, '-o', `${plain}.age`, plain])
    await decryptFile(`${plain}.age`, `${plain}.out`, await loadIdentities([pemKey]))
    expect(fs.readFileSync(`${plain}.out`).equals(data)).to.equal(true)
  })

  it('one file for several recipients of all three types opens with each identity, in both tools', async () => {
    const plain = path.join(dir, 'multi')
    const data = writePattern(plain, 100_000, 11)
    runOk('age', [
      '-r',
      keys.age.recipient,
      '-R',
      keys.ed25519.publicFile,
      '-R',
      keys.rsa.publicFile,
      '-o',
      `${plain}.theirs.age`,
      plain,
    ])
    for (const identity of [keys.age.identityFile, keys.ed25519.identityFile, keys.rsa.identityFile]) {
      const out = `${plain}.${path.basename(identity)}.out`
      await decryptFile(`${plain}.theirs.age`, out, await loadIdentities([identity]))
      expect(fs.readFileSync(out).equals(data), identity).to.equal(true)
    }
  })

  describe('a real backup archive', () => {
    let archive: string
    let sealed: string

    before(async function () {
      if (!dir) this.skip()
      const databasePath = path.join(dir, 'library.db')
      createLibrary(databasePath, {files: 3000, walFiles: 0, seed: 13})
      archive = path.join(dir, 'backup.tar.gz')
      await writeArchive({
        archivePath: archive,
        databasePath,
        knownMetadata: {
          vpo_version: '0.1.0',
          schema_version: 27,
          created_at: '2026-11-26T15:00:00Z',
          file_count: 3000,
          total_library_size_bytes: 1,
        },
      })
      sealed = `${archive}.age`
      await encryptFile(archive, sealed, parseRecipients([keys.age.recipient]))
    })

    it('age -d -i key | tar -tz lists its members, metadata first', () => {
      const plain = runOk('age', ['-d', '-i', keys.age.identityFile, sealed])
      expect(plain.equals(fs.readFileSync(archive))).to.equal(true)
      const members = runOk('tar', ['-tz'], plain).toString().trim().split('\n')
      expect(members).to.deep.equal(['backup_metadata.json', 'library.db'])
    })

    it('decryptHead gives the first chunk of the archive, from the file or from a prefix of it', async () => {
      const identities = await loadIdentities([keys.age.identityFile])
      const expected = fs.readFileSync(archive).subarray(0, CHUNK_SIZE)
      expect((await decryptHead(sealed, identities)).equals(expected)).to.equal(true)
      const prefix = fs.readFileSync(sealed).subarray(0, 128 * 1024)
      expect((await decryptHead(prefix, identities)).equals(expected)).to.equal(true)
      expect((await decryptHead(sealed, identities)).includes('backup_metadata.json')).to.equal(true)
    })

    it("the decrypted head alone is enough for the archive reader's metadata", async () => {
      const head = path.join(dir, 'head-only.tar.gz')
      fs.writeFileSync(head, await decryptHead(sealed, await loadIdentities([keys.age.identityFile])), {mode: 0o600})
      const metadata = await readArchiveMetadata(head)
      expect(metadata.file_count).to.equal(3000)
      expect(metadata.created_at).to.equal('2026-11-26T15:00:00Z')
    })

    it('an archive made with tar czf | age -r decrypts to a readable archive', async () => {
      const piped = path.join(dir, 'piped.tar.gz.age')
      const tarball = runOk('tar', ['-czf', '-', '-C', dir, 'library.db'])
      fs.writeFileSync(piped, runOk('age', ['-r', keys.age.recipient], tarball))
      const out = path.join(dir, 'piped.tar.gz')
      await decryptFile(piped, out, await loadIdentities([keys.age.identityFile]))
      expect(runOk('tar', ['-tzf', out]).toString().trim()).to.equal('library.db')
    })
  })
})
