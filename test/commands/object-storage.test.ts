/**
 * s3:// everywhere a location is accepted, through the real commands (bin/run.js child processes)
 * against a real S3 server (s3rver) on 127.0.0.1: backup, listing, restore (by URL and --latest),
 * verify and prune. What the store holds is checked byte for byte against what was uploaded.
 */
import {GetObjectCommand, ListObjectsV2Command, S3Client} from '@aws-sdk/client-s3'
import {expect} from 'chai'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

import type {BackupJson, BackupsJson, PruneJson, RestoreJson, VerifyJson} from '../../src/cli/json-results.js'

import {parseJson, runCli} from '../helpers/cli.js'
import {expectJsonError} from '../helpers/expectations.js'
import {listTemps} from '../helpers/leftovers.js'
import {libraryContent, makeDataDir, treeState} from '../helpers/libraries.js'
import {clientOf, type S3Server, startS3Server} from '../helpers/s3-server.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

const BUCKET = 'vpo-commands'

describe('object storage (s3://) through the commands', function () {
  this.timeout(120_000)
  let server: S3Server
  let client: S3Client

  before(async () => {
    server = await startS3Server([BUCKET])
    client = await clientOf(server)
  })

  after(async () => {
    client?.destroy()
    await server?.stop()
    cleanupTempDirs()
  })

  const prefixUrl = () => `s3://${BUCKET}/host-${crypto.randomBytes(4).toString('hex')}/`
  const keysUnder = async (url: string) => {
    const prefix = url.slice(`s3://${BUCKET}/`.length)
    const page = await client.send(new ListObjectsV2Command({Bucket: BUCKET, Prefix: prefix}))
    return (page.Contents ?? []).map((entry) => entry.Key!.slice(prefix.length)).sort()
  }

  const objectBytes = async (url: string) => {
    const key = url.slice(`s3://${BUCKET}/`.length)
    const answer = await client.send(new GetObjectCommand({Bucket: BUCKET, Key: key}))
    return Buffer.from(await answer.Body!.transformToByteArray())
  }

  it('backs up to a prefix, lists it, restores from it by URL and with --latest, verifies and prunes it', async () => {
    const library = makeDataDir({files: 1200, walFiles: 10})
    const env = {...library.env, ...server.env, TMPDIR: makeTempDir('vpo-tmp')}
    const url = prefixUrl()

    const made: BackupJson[] = []
    for (let i = 0; i < 3; i++) {
      const run = await runCli(['library:backup', '--output', url, '--json'], {env})
      expect(run.code, run.stdout + run.stderr).to.equal(0)
      expect(run.stderr, 'no SDK warning reaches the user').to.equal('')
      made.push(parseJson(run) as unknown as BackupJson)
    }

    expect(made[0].path.startsWith(url)).to.equal(true)
    // What the store holds is exactly what was built: the sha256 of library.db inside it matches.
    const stored = await objectBytes(made[0].path)
    expect(stored.length).to.equal(made[0].archive_size_bytes)
    expect(await keysUnder(url)).to.deep.equal(made.map((entry) => path.posix.basename(entry.path)).sort())
    expect(listTemps(env.TMPDIR), 'the staged copy is removed').to.deep.equal([])
    expect(fs.existsSync(library.backupDir), 'nothing written to the local backup directory').to.equal(false)

    const listing = parseJson(
      await runCli(['library:backups', '--path', url, '--json'], {env}),
    ) as unknown as BackupsJson
    expect(listing.directory).to.equal(url)
    expect(listing.backups.map((entry) => entry.path)).to.deep.equal(made.map((entry) => entry.path).reverse())
    expect(listing.backups.every((entry) => entry.readable && entry.file_count === made[0].file_count)).to.equal(true)

    const before = libraryContent(library.databasePath).digest
    const restore = await runCli(['library:restore', made[1].path, '--yes', '--no-safety-backup', '--json'], {env})
    expect(restore.code, restore.stdout + restore.stderr).to.equal(0)
    expect((parseJson(restore) as unknown as RestoreJson).source_path).to.equal(made[1].path)
    expect(libraryContent(library.databasePath).digest).to.equal(before)

    const latest = await runCli(
      ['library:restore', '--latest', '--path', url, '--yes', '--no-safety-backup', '--json'],
      {env},
    )
    expect(latest.code, latest.stdout + latest.stderr).to.equal(0)
    expect((parseJson(latest) as unknown as RestoreJson).source_path).to.equal(made[2].path)

    const verify = await runCli(['library:verify', '--path', url, '--json'], {env})
    expect(verify.code, verify.stdout + verify.stderr).to.equal(0)
    const verified = parseJson(verify) as unknown as VerifyJson
    expect(verified.backups.map((entry) => entry.ok)).to.deep.equal([true, true, true])

    const prune = await runCli(['library:prune', '--path', url, '--keep-last', '1', '--json'], {env})
    expect(prune.code, prune.stdout + prune.stderr).to.equal(0)
    expect((parseJson(prune) as unknown as PruneJson).removed.sort()).to.deep.equal([made[0].path, made[1].path].sort())
    expect(await keysUnder(url)).to.deep.equal([path.posix.basename(made[2].path)])
    expect(listTemps(env.TMPDIR)).to.deep.equal([])
  })

  it('--output naming an object key writes exactly that key, and never overwrites it without --force', async () => {
    const library = makeDataDir({files: 300, walFiles: 0})
    const env = {...library.env, ...server.env}
    const url = `${prefixUrl()}weekly.tar.gz`
    const first = await runCli(['library:backup', '--output', url, '--json'], {env})
    expect(first.code, first.stdout + first.stderr).to.equal(0)
    const original = await objectBytes(url)
    const again = await runCli(['library:backup', '--output', url, '--json'], {env})
    expectJsonError(again, 'OUTPUT_EXISTS', 1)
    expect((await objectBytes(url)).equals(original), 'the existing object is untouched').to.equal(true)
    const forced = await runCli(['library:backup', '--output', url, '--force', '--json'], {env})
    expect(forced.code, forced.stdout + forced.stderr).to.equal(0)
  })

  it("a missing bucket is exit 8 with the store's reason, and nothing local changes", async () => {
    const library = makeDataDir({files: 200, walFiles: 5})
    const env = {...library.env, ...server.env, VPO_S3_MAX_ATTEMPTS: '2', VPO_S3_RETRY_DELAY_MS: '50'}
    const before = treeState(library.dataDir)
    const run = await runCli(['library:backup', '--output', 's3://no-such-bucket/vpo/', '--json'], {env})
    const message = expectJsonError(run, 'STORAGE_ERROR', 8)
    expect(message).to.match(/NoSuchBucket|does not exist/)
    // Found before the long work: the bucket is checked before the snapshot is taken.
    expect(message).to.match(/while listing/)
    expect(treeState(library.dataDir)).to.deep.equal(before)
  })

  it('an unreachable store is exit 8 within bounded time, and a restore from it changes nothing', async () => {
    const library = makeDataDir({files: 200, walFiles: 5})
    const env = {
      ...library.env,
      ...server.env,
      AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9',
      VPO_S3_MAX_ATTEMPTS: '2',
      VPO_S3_RETRY_DELAY_MS: '50',
    }
    const before = treeState(library.dataDir)
    const started = Date.now()
    const run = await runCli(
      ['library:restore', `s3://${BUCKET}/any/vpo-library-2026-01-01T000000Z.tar.gz`, '--yes', '--json'],
      {env},
    )
    expect(Date.now() - started).to.be.below(30_000)
    expect(expectJsonError(run, 'STORAGE_ERROR', 8)).to.match(/ECONNREFUSED|connect/i)
    expect(treeState(library.dataDir)).to.deep.equal(before)
  })
})
