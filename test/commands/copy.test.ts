/**
 * library:copy through the real command (bin/run.js child processes) between real directories and
 * a real S3 server (s3rver): what is copied, what is left alone, and that every copy is the very
 * bytes of its source (or, encrypted on the way, opens to them).
 */
import {expect} from 'chai'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

import type {CopyJson} from '../../src/cli/json-results.js'

import {makeLocalKey, payloadOffset} from '../helpers/age-files.js'
import {fileFacts, flipByte} from '../helpers/backup-copies.js'
import {parseJson, runCli} from '../helpers/cli.js'
import {expectNoStackTrace} from '../helpers/expectations.js'
import {leftoverTempFiles, listTemps} from '../helpers/leftovers.js'
import {type DataDir, libraryContent, makeDataDir, sha256File} from '../helpers/libraries.js'
import {type S3Server, startS3Server} from '../helpers/s3-server.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

const BUCKET = 'vpo-copies'

/** Two real regular backups, a safety backup and a custom-named one, as a user's directory holds them. */
async function backupsOf(library: DataDir): Promise<{custom: string; regular: string[]; safety: string}> {
  const regular: string[] = []
  for (let i = 0; i < 2; i++) {
    const made = await runCli(['library:backup', '--json'], {env: library.env})
    expect(made.code, made.stderr).to.equal(0)
    regular.push(path.basename(String(parseJson(made).path)))
  }

  // A safety backup and a custom-named one are the same kind of archive under another name.
  const safety = regular[0].replace('.tar.gz', '-pre-restore.tar.gz')
  fs.copyFileSync(path.join(library.backupDir, regular[0]), path.join(library.backupDir, safety))
  const custom = 'vpo-library-weekly.tar.gz'
  fs.copyFileSync(path.join(library.backupDir, regular[1]), path.join(library.backupDir, custom))
  return {custom, regular, safety}
}

function digests(dir: string): Record<string, string> {
  const found: Record<string, string> = {}
  for (const name of fs.readdirSync(dir).sort()) found[name] = sha256File(path.join(dir, name))
  return found
}

describe('library:copy', function () {
  this.timeout(180_000)
  let server: S3Server

  before(async () => {
    server = await startS3Server([BUCKET])
  })

  after(async () => {
    await server?.stop()
    cleanupTempDirs()
  })

  const prefixUrl = () => `s3://${BUCKET}/copy-${crypto.randomBytes(4).toString('hex')}/`

  it('copies every regular and safety backup that is missing, byte for byte; a second run copies nothing', async () => {
    const library = makeDataDir({files: 300, walFiles: 5})
    const {custom, regular, safety} = await backupsOf(library)
    const usb = path.join(makeTempDir('vpo-usb'), 'vpo-backups')
    const before = fileFacts(fs.readdirSync(library.backupDir).map((name) => path.join(library.backupDir, name)))

    const dry = await runCli(['library:copy', '--to', usb, '--dry-run'], {env: library.env})
    expect(dry.code, dry.stderr).to.equal(0)
    expect(dry.stdout).to.contain('3 would copy, 0 already there, 0 not copied (dry run: nothing was copied)')
    expect(fs.existsSync(usb), 'a dry run creates nothing').to.equal(false)

    const first = await runCli(['library:copy', '--to', usb, '--json'], {env: library.env})
    expect(first.code, first.stdout + first.stderr).to.equal(0)
    const json = parseJson(first) as unknown as CopyJson
    expect(json.success).to.equal(true)
    expect(json.copied.map((entry) => entry.name).sort()).to.deep.equal([...regular, safety].sort())
    const sources = digests(library.backupDir)
    expect(digests(usb)).to.deep.equal(
      Object.fromEntries([...regular, safety].sort().map((name) => [name, sources[name]])),
      'the same bytes under the same names; the custom-named backup is not copied unasked',
    )
    expect(custom in digests(usb)).to.equal(false)
    expect(fileFacts(Object.keys(before)), 'the source backups are only read').to.deep.equal(before)

    const again = await runCli(['library:copy', '--to', usb, '--json'], {env: library.env})
    expect(again.code, again.stderr).to.equal(0)
    const second = parseJson(again) as unknown as CopyJson
    expect(second.copied).to.deep.equal([])
    expect(second.skipped.map((entry) => entry.reason)).to.deep.equal([
      'already there',
      'already there',
      'already there',
    ])

    const named = await runCli(['library:copy', custom, '--to', usb], {env: library.env})
    expect(named.code, named.stderr).to.equal(0)
    expect(named.stdout).to.contain(`copied      ${path.join(usb, custom)}`)
    expect(sha256File(path.join(usb, custom))).to.equal(sources[custom])
    expect(leftoverTempFiles(usb)).to.deep.equal([])
  })

  it('does not copy a damaged archive (exit 3) or replace a different file of the same name (left alone), and still copies the rest', async () => {
    const library = makeDataDir({files: 300, walFiles: 5})
    const {regular, safety} = await backupsOf(library)
    // The newest regular backup loses its last bytes, as on a disk that filled up mid-copy years ago.
    const truncated = path.join(library.backupDir, regular[1])
    fs.truncateSync(truncated, fs.statSync(truncated).size - 100)
    const usb = makeTempDir('vpo-usb')
    // Another machine's backup under the safety backup's name.
    fs.copyFileSync(path.join(library.backupDir, regular[0]), path.join(usb, safety))
    flipByte(path.join(usb, safety), 200)
    const theirs = sha256File(path.join(usb, safety))

    const run = await runCli(['library:copy', '--to', usb, '--json'], {env: library.env})
    expectNoStackTrace(run)
    expect(run.code, run.stdout).to.equal(3)
    const json = parseJson(run) as unknown as CopyJson & {error: {code: string; message: string}}
    expect(json.success).to.equal(false)
    expect(json.copied.map((entry) => entry.name)).to.deep.equal([regular[0]])
    expect(Object.fromEntries(json.failed.map((entry) => [entry.name, entry.error.exit_code]))).to.deep.equal({
      [regular[1]]: 3,
      [safety]: 1,
    })
    expect(json.error.code).to.equal('INVALID_ARCHIVE')
    expect(fs.existsSync(path.join(usb, regular[1])), 'the damaged archive is not copied').to.equal(false)
    expect(sha256File(path.join(usb, safety)), 'the other file is left as it is').to.equal(theirs)
    expect(sha256File(path.join(usb, regular[0]))).to.equal(sha256File(path.join(library.backupDir, regular[0])))

    // Without the damaged one, the conflict alone is exit 1, and the sentence says what to do.
    fs.rmSync(truncated)
    const human = await runCli(['library:copy', '--to', usb], {env: library.env})
    expect(human.code).to.equal(1)
    expect(human.stderr).to.match(/^Error: .*already exists and differs from .*, so it was left as it is; .*\n$/)
    expect(sha256File(path.join(usb, safety))).to.equal(theirs)
  })

  it('fills a bucket from a directory, another bucket prefix from it, and a directory back from the bucket', async () => {
    const library = makeDataDir({files: 300, walFiles: 5})
    const {regular, safety} = await backupsOf(library)
    const env = {...library.env, ...server.env, TMPDIR: makeTempDir('vpo-tmp')}
    const offsite = prefixUrl()
    const second = prefixUrl()
    const back = makeTempDir('vpo-back')

    const up = await runCli(['library:copy', '--to', offsite, '--json'], {env})
    expect(up.code, up.stdout + up.stderr).to.equal(0)
    expect(up.stderr, 'no SDK warning reaches the user').to.equal('')
    const across = await runCli(['library:copy', '--from', offsite, '--to', second, '--json'], {env})
    expect(across.code, across.stdout + across.stderr).to.equal(0)
    expect((parseJson(across) as unknown as CopyJson).copied.map((entry) => entry.path).sort()).to.deep.equal(
      [...regular, safety].map((name) => `${second}${name}`).sort(),
    )
    const down = await runCli(['library:copy', '--from', second, '--to', back], {env})
    expect(down.code, down.stdout + down.stderr).to.equal(0)
    const sources = digests(library.backupDir)
    expect(digests(back)).to.deep.equal(
      Object.fromEntries([...regular, safety].sort().map((name) => [name, sources[name]])),
      'two hops through object storage change no byte',
    )
    const twice = await runCli(['library:copy', '--from', offsite, '--to', second, '--json'], {env})
    expect((parseJson(twice) as unknown as CopyJson).copied).to.deep.equal([])
    expect(listTemps(env.TMPDIR)).to.deep.equal([])
  })

  it('--latest --encrypt-to sends the newest backup encrypted (….age); either name counts as present; encrypted ones travel as they are', async () => {
    const library = makeDataDir({files: 300, walFiles: 5})
    const {regular} = await backupsOf(library)
    const keyDir = makeTempDir('vpo-key')
    const key = await makeLocalKey(keyDir, 'key.txt')
    const env = {...library.env, ...server.env, TMPDIR: makeTempDir('vpo-tmp')}
    const offsite = prefixUrl()

    const sent = await runCli(['library:copy', '--latest', '--to', offsite, '--encrypt-to', key.recipient, '--json'], {
      env,
    })
    expect(sent.code, sent.stdout + sent.stderr).to.equal(0)
    const json = parseJson(sent) as unknown as CopyJson
    expect(json.copied.map((entry) => [entry.name, entry.encrypted_on_the_way])).to.deep.equal([
      [`${regular[1]}.age`, true],
    ])

    // It opens with the key to exactly the archive at home.
    const restored = makeDataDir({files: 10, walFiles: 0})
    const restore = await runCli(
      ['library:restore', `${offsite}${regular[1]}.age`, '--identity', key.identityFile, '--yes', '--json'],
      {env: {...env, VPO_DATA_DIR: restored.dataDir}},
    )
    expect(restore.code, restore.stdout + restore.stderr).to.equal(0)
    expect(libraryContent(restored.databasePath).digest).to.equal(libraryContent(library.databasePath).digest)

    const again = await runCli(['library:copy', '--latest', '--to', offsite, '--encrypt-to', key.recipient, '--json'], {
      env,
    })
    expect((parseJson(again) as unknown as CopyJson).skipped.map((entry) => entry.reason)).to.deep.equal([
      'already there, encrypted',
    ])

    // An encrypted archive is checked without a key (header and size) and sent as it is; a
    // repeatable flag takes one value and leaves the BACKUP after it alone.
    const usb = makeTempDir('vpo-usb')
    const onward = await runCli(
      ['library:copy', '--encrypt-to', key.recipient, `${regular[1]}.age`, '--from', offsite, '--to', usb],
      {env},
    )
    expect(onward.code, onward.stdout + onward.stderr).to.equal(0)
    expect(Object.keys(digests(usb))).to.deep.equal([`${regular[1]}.age`])
  })

  it('checks an encrypted archive without a key: a broken age header or a size no whole file has is not copied (exit 3)', async () => {
    const library = makeDataDir({files: 300, walFiles: 5})
    const key = await makeLocalKey(makeTempDir('vpo-key'), 'key.txt')
    const names: string[] = []
    for (let i = 0; i < 3; i++) {
      const made = await runCli(['library:backup', '--encrypt-to', key.recipient, '--json'], {env: library.env})
      expect(made.code, made.stderr).to.equal(0)
      names.push(path.basename(String(parseJson(made).path)))
    }

    const [whole, cut, badHeader] = names.map((name) => path.join(library.backupDir, name))
    // Cut so the last chunk is shorter than its 16-byte tag: no age file ends that way.
    const sealed = fs.readFileSync(cut)
    const payload = sealed.length - payloadOffset(sealed)
    fs.truncateSync(cut, sealed.length - (payload % (64 * 1024 + 16)) + 5)
    const header = fs.readFileSync(badHeader)
    header[header.indexOf('\n---') + 1] = 0x2b // the MAC line no longer starts with ---
    fs.writeFileSync(badHeader, header)
    const usb = makeTempDir('vpo-usb')

    const run = await runCli(['library:copy', '--to', usb, '--json'], {env: library.env})
    expect(run.code, run.stdout + run.stderr).to.equal(3)
    const json = parseJson(run) as unknown as CopyJson
    expect(json.copied.map((entry) => entry.name)).to.deep.equal([path.basename(whole)])
    expect(Object.fromEntries(json.failed.map((entry) => [entry.name, entry.error.message]))).to.deep.equal({
      [path.basename(cut)]: `${cut} is not a valid VPO backup: the file is truncated (its encrypted data is ${
        fs.statSync(cut).size - payloadOffset(sealed)
      } of ${payload} bytes)`,
      [path.basename(badHeader)]:
        `${badHeader} is not a valid VPO backup: its encryption header is truncated or damaged`,
    })
    expect(fs.readdirSync(usb)).to.deep.equal([path.basename(whole)])
  })

  it('refuses --to where the backups already are, a BACKUP that is not there, and a --to that is a file, before copying anything', async () => {
    const library = makeDataDir({files: 100, walFiles: 0})
    await backupsOf(library)
    const same = await runCli(['library:copy', '--to', library.backupDir], {env: library.env})
    expect(same.code).to.equal(2)
    expect(same.stderr).to.contain('is where the backups are copied from')
    const usb = makeTempDir('vpo-usb')
    const missing = await runCli(['library:copy', 'vpo-library-nope.tar.gz', '--to', usb], {env: library.env})
    expect(missing.code).to.equal(1)
    expect(missing.stderr).to.match(/^Error: There is no backup .*vpo-library-nope\.tar\.gz; list them with/)
    expect(fs.readdirSync(usb)).to.deep.equal([])
    const file = path.join(usb, 'notes.txt')
    fs.writeFileSync(file, 'not a directory')
    const onFile = await runCli(['library:copy', '--to', file], {env: library.env})
    expect(onFile.code).to.equal(1)
    expect(onFile.stderr).to.equal(
      `Error: --to ${file} is a file, not a directory; pass --to with a directory or an s3:// prefix (name single backups as BACKUP arguments).\n`,
    )
  })
})
