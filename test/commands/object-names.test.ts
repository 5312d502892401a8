/**
 * Names in object storage, against a real S3 server (s3rver): `--output s3://bucket/nas` without
 * its slash is the prefix `nas/` (issue 17 item 3), and errors about a downloaded archive name its
 * s3:// URL, never the scratch copy it was read from (item 5).
 */
import {ListObjectsV2Command, PutObjectCommand, S3Client} from '@aws-sdk/client-s3'
import {expect} from 'chai'
import crypto from 'node:crypto'
import fs from 'node:fs'

import type {BackupsJson, PruneJson, VerifyJson} from '../../src/cli/json-results.js'

import {parseJson, runCli} from '../helpers/cli.js'
import {expectHumanError, expectJsonError} from '../helpers/expectations.js'
import {archiveOf, type DataDir, libraryContent, makeDataDir, sha256File} from '../helpers/libraries.js'
import {clientOf, type S3Server, startS3Server} from '../helpers/s3-server.js'
import {cleanupTempDirs} from '../helpers/temp-dirs.js'

const BUCKET = 'vpo-names'

describe('object names in s3://', function () {
  this.timeout(180_000)
  let server: S3Server
  let client: S3Client
  let lib: DataDir

  before(async () => {
    server = await startS3Server([BUCKET])
    client = await clientOf(server)
    lib = makeDataDir({files: 30, walFiles: 0})
  })

  after(async () => {
    client?.destroy()
    await server?.stop()
    cleanupTempDirs()
  })

  const host = () => `host-${crypto.randomBytes(4).toString('hex')}`
  const keys = async (prefix = '') => {
    const page = await client.send(new ListObjectsV2Command({Bucket: BUCKET, Prefix: prefix}))
    return (page.Contents ?? []).map((entry) => entry.Key!).sort()
  }

  const cli = (args: string[]) => runCli(args, {env: {...lib.env, ...server.env}})

  describe('--output s3://bucket/nas (no trailing slash)', () => {
    it('is the prefix nas/: the backup lands beside the others there, and listing and prune see it', async () => {
      const nas = host()
      const first = await cli(['library:backup', '--json', '--output', `s3://${BUCKET}/${nas}/`])
      expect(first.code, first.stderr).to.equal(0)
      const second = await cli(['library:backup', '--json', '--output', `s3://${BUCKET}/${nas}`])
      expect(second.code, second.stderr).to.equal(0)
      expect(String(parseJson(second).path)).to.match(
        new RegExp(`^s3://${BUCKET}/${nas}/vpo-library-.*Z(-2)?\\.tar\\.gz$`),
      )
      const stored = await keys(nas)
      expect(stored, 'no object named like the prefix').not.to.include(nas)
      expect(stored).to.have.lengthOf(2)
      expect(stored.every((key) => key.startsWith(`${nas}/vpo-library-`))).to.equal(true)

      const listed = parseJson(await cli(['library:backups', '--json', '--path', `s3://${BUCKET}/${nas}`]))
      expect((listed as unknown as BackupsJson).backups).to.have.lengthOf(2)
      const pruned = await cli(['library:prune', '--json', '--keep-last', '1', '--path', `s3://${BUCKET}/${nas}`])
      expect(pruned.code, pruned.stderr).to.equal(0)
      expect((parseJson(pruned) as unknown as PruneJson).removed).to.have.lengthOf(1)
      expect(await keys(nas)).to.have.lengthOf(1)
    })

    it('s3://bucket (no slash at all) is the bucket root', async () => {
      const before = new Set(await keys())
      const made = await cli(['library:backup', '--json', '--output', `s3://${BUCKET}`])
      expect(made.code, made.stderr).to.equal(0)
      const added = (await keys()).filter((key) => !before.has(key))
      expect(added).to.have.lengthOf(1)
      expect(added[0]).to.match(/^vpo-library-.*Z(-\d+)?\.tar\.gz$/)
      expect(String(parseJson(made).path)).to.equal(`s3://${BUCKET}/${added[0]}`)
    })

    it('a last segment ending in .tar.gz names the object; one like x.tgz or x.zip is a usage error, nothing written', async () => {
      const nas = host()
      const named = await cli(['library:backup', '--json', '--output', `s3://${BUCKET}/${nas}/library.tar.gz`])
      expect(named.code, named.stderr).to.equal(0)
      expect(await keys(nas)).to.deep.equal([`${nas}/library.tar.gz`])

      for (const name of ['library.tgz', 'library.zip']) {
        const other = host()
        const refused = await cli(['library:backup', '--output', `s3://${BUCKET}/${other}/${name}`])
        expect(expectHumanError(refused, 2)).to.include('an object name must end in .tar.gz')
        expect(await keys(other)).to.deep.equal([])
      }
    })
  })

  describe('errors name the backup, not the downloaded copy', () => {
    it('verify --path and verify URL, restore URL and restore --latest: the s3:// URL, never .vpo-backup-tmp', async () => {
      const nas = host()
      const good = await archiveOf(lib)
      const cut = fs.readFileSync(good.path).subarray(0, Math.floor(fs.statSync(good.path).size * 0.6))
      const name = 'vpo-library-2031-01-01T000000Z.tar.gz'
      await client.send(new PutObjectCommand({Bucket: BUCKET, Key: `${nas}/${name}`, Body: cut}))
      const url = `s3://${BUCKET}/${nas}/${name}`

      const verified = await cli(['library:verify', '--path', `s3://${BUCKET}/${nas}/`])
      expect(verified.code).to.equal(3)
      expect(verified.stdout).to.include(`FAILED  ${url} is not a valid VPO backup`)
      const verifiedJson = parseJson(await cli(['library:verify', '--json', url])) as unknown as VerifyJson
      expect(verifiedJson.backups[0].problem).to.match(
        new RegExp(`^${url.replaceAll('.', String.raw`\.`)} is not a valid VPO backup`),
      )

      const target = makeDataDir({files: 5, walFiles: 0})
      const before = sha256File(target.databasePath)
      const restored = await runCli(['library:restore', '--yes', url], {env: {...target.env, ...server.env}})
      expect(expectHumanError(restored, 3)).to.include(url).and.not.include('.vpo-backup-tmp')
      // Which backup --latest picks is another matter (a remote listing reads heads only); whatever it says, no scratch name.
      const latest = await runCli(['library:restore', '--yes', '--latest', '--path', `s3://${BUCKET}/${nas}/`], {
        env: {...target.env, ...server.env},
      })
      expect(latest.code).not.to.equal(0)
      expect(latest.stderr).not.to.include('.vpo-backup-tmp')

      const json = await runCli(['library:restore', '--yes', '--json', url], {env: {...target.env, ...server.env}})
      expect(expectJsonError(json, 'INVALID_ARCHIVE', 3))
        .to.include(url)
        .and.not.include('.vpo-backup-tmp')
      expect(sha256File(target.databasePath), 'library untouched').to.equal(before)
      expect(libraryContent(target.databasePath).rows).to.equal(5)
      for (const output of [verified.stdout, verified.stderr]) expect(output).not.to.include('.vpo-backup-tmp')
    })
  })
})
