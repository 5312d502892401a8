/**
 * library:backup --copy-to through the real command: one snapshot, one archive, the same bytes
 * under the same name at every place (directories, a read-only filesystem, a real s3rver), the
 * retention rules applied at each, and a failing place that leaves the others whole.
 */
import {GetObjectCommand, ListObjectsV2Command, S3Client} from '@aws-sdk/client-s3'
import {expect} from 'chai'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

import type {BackupJson} from '../../src/cli/json-results.js'

import {makeLocalKey} from '../helpers/age-files.js'
import {regularName} from '../helpers/backup-copies.js'
import {parseJson, runCli} from '../helpers/cli.js'
import {expectNoStackTrace} from '../helpers/expectations.js'
import {isRoot, mountTmpfs, unmount} from '../helpers/filesystems.js'
import {leftoverTempFiles, listArchives} from '../helpers/leftovers.js'
import {makeDataDir, sha256File} from '../helpers/libraries.js'
import {clientOf, type S3Server, startS3Server} from '../helpers/s3-server.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

const BUCKET = 'vpo-copy-to'

/** A --copy-to run's JSON: `places` is always there. */
type PlacesJson = BackupJson &
  Required<Pick<BackupJson, 'places'>> & {error?: {code: string; exit_code: number; message: string}}

describe('library:backup --copy-to', function () {
  this.timeout(180_000)
  let server: S3Server
  let client: S3Client
  const mounts: string[] = []

  before(async () => {
    server = await startS3Server([BUCKET])
    client = await clientOf(server)
  })

  after(async () => {
    for (const dir of mounts) unmount(dir)
    client?.destroy()
    await server?.stop()
    cleanupTempDirs()
  })

  const prefixUrl = () => `s3://${BUCKET}/host-${crypto.randomBytes(4).toString('hex')}/`
  const objectDigest = async (url: string) => {
    const answer = await client.send(new GetObjectCommand({Bucket: BUCKET, Key: url.slice(`s3://${BUCKET}/`.length)}))
    return crypto
      .createHash('sha256')
      .update(await answer.Body!.transformToByteArray())
      .digest('hex')
  }

  const keysUnder = async (url: string) => {
    const prefix = url.slice(`s3://${BUCKET}/`.length)
    const page = await client.send(new ListObjectsV2Command({Bucket: BUCKET, Prefix: prefix}))
    return (page.Contents ?? []).map((entry) => entry.Key!.slice(prefix.length)).sort()
  }

  it('publishes one archive under one name in the backup directory, on a USB disk and in a bucket, and keeps N at each', async () => {
    const library = makeDataDir({files: 300, walFiles: 5})
    const env = {...library.env, ...server.env, TMPDIR: makeTempDir('vpo-tmp')}
    const usb = path.join(makeTempDir('vpo-usb'), 'vpo-backups')
    const offsite = prefixUrl()
    // Last night's run, everywhere: the rules must see it at each place.
    const first = await runCli(['library:backup', '--copy-to', usb, '--copy-to', offsite, '--json'], {env})
    expect(first.code, first.stdout + first.stderr).to.equal(0)
    const old = path.basename((parseJson(first) as unknown as PlacesJson).path)

    // Repeatable flags take one value each and leave the rest of the line alone.
    const run = await runCli(['library:backup', '--copy-to', usb, '--copy-to', offsite, '--keep', '1', '--json'], {env})
    expect(run.code, run.stdout + run.stderr).to.equal(0)
    expect(run.stderr).to.equal('')
    const json = parseJson(run) as unknown as PlacesJson
    const name = path.basename(json.path)
    const digest = sha256File(json.path)
    expect(json.places.map((place) => [place.location, place.primary, place.stored, place.path])).to.deep.equal([
      [library.backupDir, true, true, path.join(library.backupDir, name)],
      [usb, false, true, path.join(usb, name)],
      [offsite, false, true, `${offsite}${name}`],
    ])
    expect(sha256File(path.join(usb, name)), 'the same bytes on the USB disk').to.equal(digest)
    expect(await objectDigest(`${offsite}${name}`), 'the same bytes in the bucket').to.equal(digest)
    expect(json.places.map((place) => place.pruned)).to.deep.equal([
      [path.join(library.backupDir, old)],
      [path.join(usb, old)],
      [`${offsite}${old}`],
    ])
    expect(listArchives(library.backupDir)).to.deep.equal([name])
    expect(listArchives(usb)).to.deep.equal([name])
    expect(await keysUnder(offsite)).to.deep.equal([name])
    expect(leftoverTempFiles(usb)).to.deep.equal([])
    expect(leftoverTempFiles(env.TMPDIR)).to.deep.equal([])

    const human = await runCli(['library:backup', '--copy-to', usb], {env})
    expect(human.code, human.stderr).to.equal(0)
    expect(human.stdout).to.match(new RegExp(`\n  Copied to:     ${usb}/vpo-library-[^/]+\\.tar\\.gz\n`))
  })

  it('a read-only copy place fails alone: the primary and the other places have the backup, the run says which do not', async function () {
    if (!isRoot()) this.skip()
    const library = makeDataDir({files: 300, walFiles: 5})
    const readOnly = path.join(makeTempDir('vpo-ro'), 'usb')
    fs.mkdirSync(readOnly)
    expect(mountTmpfs(readOnly, '1m')).to.equal(true)
    mounts.push(readOnly)
    fs.writeFileSync(path.join(readOnly, regularName('2026-01-01T03:30:00Z')), 'an old backup')
    const remount = await import('node:child_process').then(({spawnSync}) =>
      spawnSync('mount', ['-o', 'remount,ro', readOnly], {encoding: 'utf8'}),
    )
    expect(remount.status, remount.stderr).to.equal(0)
    const nas = makeTempDir('vpo-nas')
    // A real older backup: a damaged file would be kept by every rule, and show nothing here.
    const earlier = await runCli(['library:backup', '--output', nas, '--json'], {env: library.env})
    expect(earlier.code, earlier.stderr).to.equal(0)
    const oldOnNas = (parseJson(earlier) as unknown as PlacesJson).path
    await new Promise((resolve) => {
      setTimeout(resolve, 1100)
    })

    const run = await runCli(['library:backup', '--copy-to', readOnly, '--copy-to', nas, '--keep', '1', '--json'], {
      env: library.env,
    })
    expectNoStackTrace(run)
    expect(run.code, run.stdout).to.equal(1)
    const json = parseJson(run) as unknown as PlacesJson
    expect(json.success).to.equal(false)
    const name = path.basename(json.path)
    expect(json.places.map((place) => [place.location, place.stored])).to.deep.equal([
      [library.backupDir, true],
      [readOnly, false],
      [nas, true],
    ])
    expect(json.places[1].error?.message).to.contain('read-only')
    expect(json.error?.message).to.equal(
      `The backup ${name} is in ${library.backupDir} and ${nas}, but not in ${readOnly} (${json.places[1].error?.message})`,
    )
    expect(sha256File(path.join(nas, name))).to.equal(sha256File(json.path))
    expect(json.places[2].pruned, '--keep still applies where the backup arrived').to.deep.equal([oldOnNas])
    expect(fs.readdirSync(readOnly), 'the read-only disk is as it was').to.deep.equal([
      regularName('2026-01-01T03:30:00Z'),
    ])

    const human = await runCli(['library:backup', '--copy-to', readOnly], {env: library.env})
    expect(human.code).to.equal(1)
    expect(human.stdout).to.contain(`  Not copied to: ${readOnly}\n`)
    expect(human.stderr).to.match(
      /^Error: The backup vpo-library-\S+ is in \S+, but not in \S+ \(.*read-only.*\); fix that, then copy it with: vpo library:copy /,
    )
  })

  it('an encrypted backup is the same .age file everywhere; a missing bucket fails with exit 8 after the primary is written', async () => {
    const library = makeDataDir({files: 300, walFiles: 5})
    const key = await makeLocalKey(makeTempDir('vpo-key'), 'key.txt')
    const env = {...library.env, ...server.env, TMPDIR: makeTempDir('vpo-tmp')}
    const usb = makeTempDir('vpo-usb')
    const run = await runCli(['library:backup', '--encrypt-to', key.recipient, '--copy-to', usb, '--json'], {env})
    expect(run.code, run.stdout + run.stderr).to.equal(0)
    const json = parseJson(run) as unknown as PlacesJson
    expect(json.path.endsWith('.tar.gz.age')).to.equal(true)
    expect(sha256File(path.join(usb, path.basename(json.path)))).to.equal(sha256File(json.path))

    const missing = await runCli(
      ['library:backup', '--copy-to', 's3://no-such-bucket/vpo/', '--copy-to', usb, '--json'],
      {
        env,
      },
    )
    expectNoStackTrace(missing)
    expect(missing.code, missing.stdout).to.equal(8)
    const failed = parseJson(missing) as unknown as PlacesJson
    expect(failed.places.map((place) => place.stored)).to.deep.equal([true, false, true])
    expect(fs.existsSync(failed.path)).to.equal(true)
    expect(failed.error?.code).to.equal('STORAGE_ERROR')
  })

  it('refuses a --copy-to that is a file, or the backup directory itself, before any backup is written; --dry-run names the places', async () => {
    const library = makeDataDir({files: 100, walFiles: 0})
    const file = path.join(makeTempDir('vpo-file'), 'notes.txt')
    fs.writeFileSync(file, 'not a directory')
    const onFile = await runCli(['library:backup', '--copy-to', file], {env: library.env})
    expect(onFile.code).to.equal(1)
    expect(onFile.stderr).to.equal(
      `Error: --copy-to ${file} is not a directory; pass --copy-to with a directory or an s3:// prefix to copy the backup into.\n`,
    )
    const onItself = await runCli(['library:backup', '--copy-to', library.backupDir], {env: library.env})
    expect(onItself.code).to.equal(2)
    expect(onItself.stderr).to.contain('is where the backup is written anyway')
    expect(listArchives(library.backupDir)).to.deep.equal([])

    const usb = path.join(makeTempDir('vpo-usb'), 'vpo-backups')
    const dry = await runCli(['library:backup', '--dry-run', '--copy-to', usb, '--json'], {env: library.env})
    expect(dry.code, dry.stderr).to.equal(0)
    expect(parseJson(dry).copy_to).to.deep.equal([usb])
    expect(fs.existsSync(usb), 'a dry run creates no copy place').to.equal(false)
  })
})
