/**
 * The shrink guard where it cannot read the backups: encrypted on a server that holds the
 * recipient but not the identity, in a local directory and in an object store (real s3rver). The
 * file counts come from the record the guard keeps in the data directory.
 */
import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'

import type {PruneJson} from '../../src/cli/json-results.js'

import {HAS_AGE, makeAgeKey, missingTools} from '../helpers/age.js'
import {type CliResult, parseJson} from '../helpers/cli.js'
import {runCliChecked} from '../helpers/expectations.js'
import {type DataDir, libraryContent, makeDataDir} from '../helpers/libraries.js'
import {keepFiles} from '../helpers/library-size.js'
import {type S3Server, startS3Server} from '../helpers/s3-server.js'
import {inANewSecond} from '../helpers/seconds.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

const REASON = 'last before the library shrank from 1,500 to 150 files'
const BUCKET = 'vpo-offsite'

for (const where of ['local directory', 's3://'] as const) {
  describe(`shrink guard: encrypted backups without the identity, in a ${where}`, function () {
    this.timeout(300_000)
    let lib: DataDir
    let key: ReturnType<typeof makeAgeKey>
    let server: S3Server | undefined
    let location: string
    let env: NodeJS.ProcessEnv
    let lastFull: string

    before(async function () {
      if (!HAS_AGE) {
        console.log(`      ${missingTools({age: true})}`)
        this.skip()
      }

      key = makeAgeKey(makeTempDir('vpo-key'))
      lib = makeDataDir({files: 1500, walFiles: 0})
      if (where === 's3://') {
        server = await startS3Server([BUCKET])
        location = `s3://${BUCKET}/nas-1/`
        env = {...lib.env, ...server.env}
      } else {
        location = `${makeTempDir('vpo-offsite')}/`
        env = lib.env
      }
    })

    after(async () => {
      await server?.stop()
      cleanupTempDirs()
    })

    async function backup(extra: string[] = []): Promise<CliResult> {
      const args = ['library:backup', '--json', '--output', location, '--encrypt-to', key.recipient, '--keep-last', '1']
      return inANewSecond(async () => runCliChecked([...args, ...extra], env))
    }

    async function listed(): Promise<string[]> {
      const result = await runCliChecked(['library:backups', '--path', location, '--json'], env)
      return (parseJson(result).backups as Array<{path: string}>).map((entry) => entry.path)
    }

    it('the backups cannot be read here; the record in the data directory has their file counts', async () => {
      for (let night = 0; night < 2; night++) expect((await backup()).code).to.equal(0)
      const result = await runCliChecked(['library:backups', '--path', location, '--json'], env)
      const backups = parseJson(result).backups as Array<{file_count: null | number; locked?: true; path: string}>
      expect(backups).to.have.lengthOf(1)
      expect(backups[0]).to.include({locked: true, file_count: null})
      lastFull = backups[0].path
      const record = fs.readFileSync(path.join(lib.dataDir, 'backup-history.json'), 'utf8')
      expect(record).to.contain(path.basename(lastFull)).and.contain('"file_count": 1500')
      expect(record, 'no key in the record').not.to.contain(key.recipient).and.not.contain('AGE-SECRET-KEY')
    })

    it('the drop is exit 11 against the last full backup, night after night, and nothing is pruned', async () => {
      keepFiles(lib.databasePath, 150)
      for (let night = 0; night < 2; night++) {
        const result = await backup()
        expect(result.code, result.stdout).to.equal(11)
        expect(parseJson(result).shrink).to.deep.include({
          previous_file_count: 1500,
          file_count: 150,
          last_backup_before_drop: lastFull,
        })
      }

      expect(await listed())
        .to.have.lengthOf(3)
        .and.include(lastFull)
    })

    it('library:prune keeps it, with the reason', async () => {
      const pruned = await runCliChecked(['library:prune', '--path', location, '--keep-last', '1', '--json'], env)
      const json = parseJson(pruned) as unknown as PruneJson
      expect(json.kept).to.deep.include({path: lastFull, reasons: [REASON]})
      expect(json.removed).to.have.lengthOf(1)
    })

    it('it restores all 1,500 files where the identity is', async () => {
      const fresh = path.join(makeTempDir('vpo-restore'), 'vpo')
      fs.mkdirSync(fresh)
      const restore = ['library:restore', lastFull, '--yes', '--identity', key.identityFile]
      const restored = await runCliChecked(restore, {...env, VPO_DATA_DIR: fresh})
      expect(restored.code, restored.stderr).to.equal(0)
      expect(libraryContent(path.join(fresh, 'library.db'))).to.include({integrity: 'ok', rows: 1500})
    })

    it('library:prune --accept-shrink accepts the drop and prunes it; the next backup compares with 150', async () => {
      const prune = ['library:prune', '--path', location, '--keep-last', '1', '--accept-shrink']
      const accepted = await runCliChecked(prune, env)
      expect(accepted.code, accepted.stderr).to.equal(0)
      expect(accepted.stdout).to.contain('Accepted the drop from 1,500 to 150 files (--accept-shrink).')
      expect(await listed())
        .to.have.lengthOf(1)
        .and.not.include(lastFull)
      const next = await backup()
      expect(next.code, next.stdout).to.equal(0)
    })

    it('with the record lost (a new machine), the guard says it has nothing to compare with', async () => {
      fs.rmSync(path.join(lib.dataDir, 'backup-history.json'))
      const result = await runCliChecked(['library:backup', '--output', location, '--encrypt-to', key.recipient], env)
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stderr.replaceAll(/\s+(›\s+)?/g, ' ')).to.contain(
        'The shrink guard cannot tell how many files 1 encrypted backup',
      )
    })

    it('--output NAME --force onto an encrypted backup of the larger library: exit 11, the old one still restores 1,500 files', async () => {
      const own = makeDataDir({files: 1500, walFiles: 0})
      const ownEnv = {...env, ...own.env}
      const nightly = `${location}latest.tar.gz.age`
      const replace = () =>
        runCliChecked(['library:backup', '--output', nightly, '--force', '--encrypt-to', key.recipient], ownEnv)
      expect((await replace()).code).to.equal(0)
      keepFiles(own.databasePath, 150)
      const refused = await replace()
      expect(refused.code, refused.stderr).to.equal(11)
      expect(refused.stderr).to.contain(
        `The library shrank from 1,500 to 150 files (more than --max-shrink 20%) since ${nightly} was made, so it was not replaced`,
      )
      const check = ['library:restore', nightly, '--dry-run', '--json', '--identity', key.identityFile]
      const kept = await runCliChecked(check, ownEnv)
      expect(kept.code, kept.stderr).to.equal(0)
      expect(JSON.stringify(parseJson(kept))).to.contain('"file_count":1500')
    })
  })
}
