/**
 * Edges of the age format through the real commands: a file whose stream ends wrongly (two final
 * chunks) is refused by the listing, which decrypts a ranged read of the head, exactly as verify,
 * which decrypts the whole file, refuses it; and an age file or identity of age 1.3's post-quantum
 * kind is refused in one sentence saying it is not supported yet, with nothing changed.
 */
import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'

import type {BackupJson, BackupsJson, VerifyJson} from '../../src/cli/json-results.js'

import {sealHeader} from '../../src/lib/encryption/header.js'
import {decryptFile, loadIdentities, parseRecipients} from '../../src/lib/encryption/index.js'
import {CHUNK_SIZE, sealChunk} from '../../src/lib/encryption/stream.js'
import {type LocalKey, makeLocalKey} from '../helpers/age-files.js'
import {testVectors} from '../helpers/age-testkit.js'
import {parseJson} from '../helpers/cli.js'
import {expectHumanError, runCliChecked} from '../helpers/expectations.js'
import {type DataDir, makeDataDir, treeState} from '../helpers/libraries.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

/** An age file of `plain` whose first chunk, a full one, is also marked final, and a second final chunk follows. */
async function twoFinalChunks(plain: Buffer, recipient: string): Promise<Buffer> {
  const {key, prefix} = await sealHeader(parseRecipients([recipient]))
  return Buffer.concat([
    prefix,
    ...sealChunk(key, 0, true, plain.subarray(0, CHUNK_SIZE)),
    ...sealChunk(key, 1, true, plain.subarray(CHUNK_SIZE, 2 * CHUNK_SIZE)),
  ])
}

describe('age format edges through the commands', function () {
  this.timeout(120_000)
  let key: LocalKey
  let data: DataDir

  before(async () => {
    key = await makeLocalKey(makeTempDir('vpo-age-edges-keys'), 'key.txt')
    data = makeDataDir()
  })

  after(() => cleanupTempDirs())

  it('a backup whose stream has two final chunks is listed as damaged and fails verify, like any altered file', async () => {
    const made = await runCliChecked(['library:backup', '--encrypt-to', key.recipient, '--json'], data.env)
    expect(made.code, made.stderr).to.equal(0)
    const good = (parseJson(made) as unknown as BackupJson).path
    const plain = path.join(makeTempDir('vpo-age-edges-plain'), 'plain.tar.gz')
    await decryptFile(good, plain, await loadIdentities([key.identityFile]))
    const plainBytes = fs.readFileSync(plain)
    expect(plainBytes.length, 'the archive spans two chunks').to.be.greaterThan(2 * CHUNK_SIZE)
    const bad = path.join(data.backupDir, 'vpo-library-2026-01-02T030405Z.tar.gz.age')
    fs.writeFileSync(bad, await twoFinalChunks(plainBytes, key.recipient), {mode: 0o600})

    const listing = await runCliChecked(['library:backups', '--identity', key.identityFile, '--json'], data.env)
    expect(listing.code, listing.stderr).to.equal(0)
    const {backups} = parseJson(listing) as unknown as BackupsJson
    const byName = new Map(backups.map((backup) => [backup.filename, backup]))
    expect(byName.get(path.basename(good))).to.include({readable: true, encrypted: true})
    const listed = byName.get(path.basename(bad))!
    expect(listed.readable, JSON.stringify(listed)).to.equal(false)
    // The listing authenticates the first chunk and the last two, as final or not by the file's size.
    expect(listed.problem).to.match(/fails authentication/)

    const verify = await runCliChecked(['library:verify', '--identity', key.identityFile, '--json'], data.env)
    expect(verify.code).to.equal(3)
    const checked = new Map((parseJson(verify) as unknown as VerifyJson).backups.map((b) => [path.basename(b.path), b]))
    expect(checked.get(path.basename(good))!.ok).to.equal(true)
    expect(checked.get(path.basename(bad))).to.include({ok: false})
    expect(checked.get(path.basename(bad))!.problem).to.match(
      /fails authentication|altered or truncated \(chunk 0 failed authentication\)/,
    )
    fs.rmSync(bad)
  })

  it('a post-quantum age file and a post-quantum identity are refused, saying so, with nothing changed', async () => {
    const hybrid = testVectors().find((vector) => vector.name === 'hybrid')!
    const file = path.join(makeTempDir('vpo-age-edges-pq'), 'vpo-library-2026-01-02T030405Z.tar.gz.age')
    fs.writeFileSync(file, hybrid.file, {mode: 0o600})
    const pqKey = path.join(path.dirname(file), 'pq.txt')
    fs.writeFileSync(pqKey, `${hybrid.identities[0]}\n`, {mode: 0o600})
    const before = treeState(data.dataDir)

    const restore = await runCliChecked(['library:restore', file, '--identity', key.identityFile, '--yes'], data.env)
    const sentence = expectHumanError(restore, 3)
    expect(sentence).to.include(file)
    expect(sentence).to.match(/post-quantum age key \(age1pq1…\), which VPO backups do not support yet; decrypt it/)

    const withPqKey = await runCliChecked(['library:restore', file, '--identity', pqKey, '--yes'], data.env)
    expect(expectHumanError(withPqKey, 10)).to.match(
      new RegExp(`The identity file ${pqKey} holds a post-quantum key .*, which VPO backups do not support yet`),
    )
    expect(treeState(data.dataDir), 'the library and its backups').to.deep.equal(before)
  })
})
