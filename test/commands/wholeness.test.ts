/**
 * Issue 16: one answer to "is this backup whole?". Listing, prune, `restore --latest` and verify
 * agree, in a local directory and in a real S3 server (s3rver), for plain and encrypted archives,
 * this plugin's and other tools'. Archives are real: made by the product's writer and encrypter
 * with chosen dates (one CLI backup supplies the snapshot), by Python's tarfile, by GNU tar and age.
 */
import {PutObjectCommand, S3Client} from '@aws-sdk/client-s3'
import {expect} from 'chai'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

import type {BackupsJson, PruneJson, RestorePlanJson, VerifyJson} from '../../src/cli/json-results.js'

import {writeArchive} from '../../src/lib/archive/index.js'
import {encryptFile, parseRecipients} from '../../src/lib/encryption/index.js'
import {makeLocalKey, payloadOffset} from '../helpers/age-files.js'
import {HAS_AGE, runOk} from '../helpers/age.js'
import {copyWithCreatedAt, createdAtAgo, regularName} from '../helpers/backup-copies.js'
import {type CliResult, parseJson, runCli} from '../helpers/cli.js'
import {archiveOf, makeDataDir} from '../helpers/libraries.js'
import {archiveMetadata, extractArchiveMember} from '../helpers/python-archives.js'
import {clientOf, type S3Server, startS3Server} from '../helpers/s3-server.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

const BUCKET = 'vpo-whole'
const DAY = 86_400_000

interface Place {
  kind: 'local' | 's3'
  location: string
  put(name: string, bytes: Buffer): Promise<void>
}

describe('one answer to "is this backup whole?" (issue 16)', function () {
  this.timeout(240_000)
  let server: S3Server
  let client: S3Client
  let snapshot: string
  let describeAs: (createdAt: string) => Parameters<typeof writeArchive>[0]['knownMetadata']
  let work: string
  let key: Awaited<ReturnType<typeof makeLocalKey>>
  let env: Record<string, string>

  before(async () => {
    server = await startS3Server([BUCKET])
    client = await clientOf(server)
    // ~4 MB: the database spans several gzip members, and the encrypted file many age chunks.
    const library = makeDataDir({files: 4000, walFiles: 5})
    const made = await archiveOf(library)
    work = makeTempDir('vpo-whole')
    snapshot = path.join(work, 'library.db')
    extractArchiveMember(made.path, 'library.db', snapshot)
    const metadata = archiveMetadata(made.path)
    describeAs = (createdAt) => ({
      vpo_version: String(metadata.vpo_version),
      schema_version: Number(metadata.schema_version),
      created_at: createdAt,
      file_count: Number(metadata.file_count),
      total_library_size_bytes: Number(metadata.total_library_size_bytes),
    })
    key = await makeLocalKey(work, 'key.txt')
    env = {...server.env, TMPDIR: makeTempDir('vpo-tmp'), VPO_DATA_DIR: path.join(work, 'no-library')}
  })

  after(async () => {
    client?.destroy()
    await server?.stop()
    cleanupTempDirs()
  })

  /** A backup as this plugin writes it, made at `createdAt`. */
  async function plainArchive(createdAt: string): Promise<Buffer> {
    const archivePath = path.join(makeTempDir('vpo-plain'), 'a.tar.gz')
    await writeArchive({archivePath, databasePath: snapshot, knownMetadata: describeAs(createdAt)})
    return fs.readFileSync(archivePath)
  }

  async function encryptedArchive(createdAt: string): Promise<Buffer> {
    const dir = makeTempDir('vpo-enc')
    const plainPath = path.join(dir, 'a.tar.gz')
    fs.writeFileSync(plainPath, await plainArchive(createdAt))
    await encryptFile(plainPath, path.join(dir, 'a.tar.gz.age'), parseRecipients([key.recipient]))
    return fs.readFileSync(path.join(dir, 'a.tar.gz.age'))
  }

  function localPlace(): Place {
    const dir = makeTempDir('vpo-place')
    return {kind: 'local', location: dir, put: async (name, bytes) => fs.writeFileSync(path.join(dir, name), bytes)}
  }

  function s3Place(): Place {
    const prefix = `p-${crypto.randomBytes(4).toString('hex')}/`
    return {
      kind: 's3',
      location: `s3://${BUCKET}/${prefix}`,
      async put(name, bytes) {
        await client.send(new PutObjectCommand({Bucket: BUCKET, Key: prefix + name, Body: bytes}))
      },
    }
  }

  const run = (args: string[]): Promise<CliResult> => runCli(args, {env})
  async function json<T>(args: string[], code = 0): Promise<T> {
    const result = await run([...args, '--json'])
    expect(result.code, result.stdout + result.stderr).to.equal(code)
    return parseJson(result) as unknown as T
  }

  const listing = (place: Place, ...extra: string[]) =>
    json<BackupsJson>(['library:backups', '--path', place.location, ...extra])
  const byName = (body: BackupsJson) => Object.fromEntries(body.backups.map((entry) => [entry.filename, entry]))
  const names = (paths: string[]) => paths.map((entry) => path.posix.basename(entry)).sort()

  for (const makePlace of [s3Place, localPlace]) {
    describe(`in ${makePlace === s3Place ? 's3://' : 'a local directory'}`, () => {
      it('1, 5. cut-short and extended backups are damaged everywhere: listed so, never counted by a rule, never "latest"', async () => {
        const place = makePlace()
        const now = Date.now()
        const times = [5, 4, 3, 2, 1].map((days) => createdAtAgo(days * DAY, now))
        const files = times.map((createdAt) => regularName(createdAt))
        for (const [index, createdAt] of times.entries()) {
          let bytes = await plainArchive(createdAt)
          if (index === 3) bytes = bytes.subarray(0, 400_000) // cut short, as a dropped upload leaves it
          if (index === 4) bytes = Buffer.concat([bytes, crypto.randomBytes(300)]) // bytes appended
          await place.put(files[index], bytes)
        }

        const listed = byName(await listing(place))
        for (const good of files.slice(0, 3)) expect(listed[good]).to.include({readable: true, whole: true})
        expect(listed[files[3]]).to.include({readable: false, whole: false, file_count: null})
        expect(listed[files[3]].problem).to.match(
          /is not a valid VPO backup: the file is truncated \(400000 of \d+ bytes\)/,
        )
        expect(listed[files[4]]).to.include({readable: false, whole: false})
        expect(listed[files[4]].problem).to.match(/300 bytes after the end of the archive/)

        // Three good and two damaged newer ones: the rule keeps the three good ones.
        const daily = await json<PruneJson>(['library:prune', '--path', place.location, '--keep-daily', '3'])
        expect(daily.removed).to.deep.equal([])
        const reasons = Object.fromEntries(daily.kept.map((entry) => [path.posix.basename(entry.path), entry.reasons]))
        expect(reasons[files[4]]).to.deep.equal(['damaged: it has 300 bytes after the end of the archive'])
        expect(reasons[files[3]]![0]).to.match(/^damaged: the file is truncated/)
        expect(reasons[files[2]]).to.deep.equal([`daily ${times[2].slice(0, 10)}`, 'newest readable'])

        const plan = await json<RestorePlanJson>(['library:restore', '--latest', '--dry-run', '--path', place.location])
        expect(path.posix.basename(plan.source_path)).to.equal(files[2])

        const last = await json<PruneJson>(['library:prune', '--path', place.location, '--keep-last', '1'])
        expect(names(last.removed)).to.deep.equal(files.slice(0, 2).sort())
        // Now the only whole backup is the oldest one there: it stays, whatever the rule.
        const again = await json<PruneJson>(['library:prune', '--path', place.location, '--keep-last', '1'])
        expect(again.removed).to.deep.equal([])
        expect(names(again.kept.map((entry) => entry.path))).to.deep.equal(files.slice(2).sort())
        const human = await run(['library:prune', '--path', place.location, '--keep-last', '1', '--dry-run'])
        expect(human.stdout).to.include(`keep          ${files[2]}  (last, newest readable)`)
        expect(human.stdout).to.match(new RegExp(`keep          ${files[3]}  \\(damaged: the file is truncated`))
      })

      it('3. encrypted: cut short (mid-chunk or at a chunk boundary) or extended is damaged, with or without --identity', async () => {
        const place = makePlace()
        const now = Date.now()
        const times = [4, 3, 2, 1].map((days) => createdAtAgo(days * DAY, now))
        const files = times.map((createdAt) => `${regularName(createdAt)}.age`)
        const whole = await encryptedArchive(times[0])
        const sealed = await encryptedArchive(times[1])
        const boundary = payloadOffset(sealed) + 10 * (64 * 1024 + 16)
        await place.put(files[0], whole)
        await place.put(files[1], sealed.subarray(0, boundary))
        await place.put(files[2], (await encryptedArchive(times[2])).subarray(0, 500_000))
        await place.put(files[3], Buffer.concat([await encryptedArchive(times[3]), Buffer.alloc(64 * 1024 + 16)]))

        for (const extra of [[], ['--identity', key.identityFile]]) {
          const listed = byName(await listing(place, ...extra))
          expect(listed[files[0]], extra.join(' ')).to.include({whole: true, encrypted: true})
          expect(listed[files[0]].readable).to.equal(extra.length > 0)
          for (const damaged of files.slice(1)) {
            expect(listed[damaged], `${damaged} ${extra.join(' ')}`).to.include({whole: false, readable: false})
            expect(listed[damaged].locked).to.equal(undefined)
          }

          expect(listed[files[1]].problem).to.match(/the file is truncated/)
          expect(listed[files[3]].problem).to.match(/65552 bytes after the end of its encrypted data/)
        }

        const pruned = await json<PruneJson>(['library:prune', '--path', place.location, '--keep-last', '1'])
        expect(pruned.removed).to.deep.equal([])
        const reasons = Object.fromEntries(pruned.kept.map((entry) => [path.posix.basename(entry.path), entry.reasons]))
        expect(reasons[files[0]]).to.deep.equal(['last', 'newest readable'])
        for (const damaged of files.slice(1)) expect(reasons[damaged]![0]).to.match(/^damaged: /)
      })
    })
  }

  it('4. in s3://, archives other tools wrote (Python tarfile, GNU tar, tar czf | age) list, and restore --latest takes the newest', async function () {
    if (!HAS_AGE) this.skip()
    const place = s3Place()
    const now = Date.now()
    const [t1, t2, t3] = [3, 2, 1].map((days) => createdAtAgo(days * DAY, now))
    const ours = path.join(work, 'ours.tar.gz')
    fs.writeFileSync(ours, await plainArchive(t1))
    const python = path.join(work, 'python.tar.gz')
    copyWithCreatedAt(ours, python, t2, 'metadata-last')
    await place.put(regularName(t1), fs.readFileSync(ours))
    await place.put(regularName(t2), fs.readFileSync(python))

    let listed = byName(await listing(place))
    expect(listed[regularName(t2)]).to.include({readable: true, whole: true, created_at: t2})
    let plan = await json<RestorePlanJson>(['library:restore', '--latest', '--dry-run', '--path', place.location])
    expect(path.posix.basename(plan.source_path)).to.equal(regularName(t2))

    // As the README shows it: the two members, by hand, through GNU tar and the age tool.
    const members = makeTempDir('vpo-members')
    const metadataFile = path.join(members, 'backup_metadata.json')
    extractArchiveMember(python, 'backup_metadata.json', metadataFile)
    fs.writeFileSync(metadataFile, fs.readFileSync(metadataFile, 'utf8').replace(t2, t3))
    fs.copyFileSync(snapshot, path.join(members, 'library.db'))
    const tarred = runOk('tar', ['czf', '-', '-C', members, 'backup_metadata.json', 'library.db'])
    await place.put(`${regularName(t3)}.age`, runOk('age', ['-r', key.recipient], tarred))

    const failed = await run(['library:backups', '--path', place.location, '--identity', key.identityFile])
    expect(failed.stdout + failed.stderr).not.to.match(/ENOENT|\.download/)
    listed = byName(await listing(place, '--identity', key.identityFile))
    expect(listed[`${regularName(t3)}.age`]).to.include({readable: true, whole: true, encrypted: true, created_at: t3})
    plan = await json<RestorePlanJson>([
      'library:restore',
      '--latest',
      '--dry-run',
      '--path',
      place.location,
      '--identity',
      key.identityFile,
    ])
    expect(path.posix.basename(plan.source_path)).to.equal(`${regularName(t3)}.age`)

    // GNU tar's own gzip, and the same cut short: one whole, one damaged, nothing left in TMPDIR.
    await place.put(regularName(createdAtAgo(4 * DAY, now)), tarred)
    await place.put(regularName(createdAtAgo(5 * DAY, now)), tarred.subarray(0, -5000))
    listed = byName(await listing(place))
    expect(listed[regularName(createdAtAgo(4 * DAY, now))]).to.include({whole: true, readable: true})
    expect(listed[regularName(createdAtAgo(5 * DAY, now))]).to.include({whole: false, readable: false})
    expect(fs.readdirSync(env.TMPDIR)).to.deep.equal([])
  })

  it('6. a backup dated in the future is neither fresh for verify --max-age nor "latest", and verify says why', async () => {
    const place = localPlace()
    const now = Date.now()
    const old = createdAtAgo(3 * DAY, now)
    const future = createdAtAgo(-2 * DAY, now)
    await place.put(regularName(old), await plainArchive(old))
    await place.put(regularName(future), await plainArchive(future))

    const stale = await run(['library:verify', '--path', place.location, '--quick', '--max-age', '26h'])
    expect(stale.code, stale.stdout + stale.stderr).to.equal(9)
    expect(stale.stderr).to.include(`is dated ${future}, ahead of this machine's clock by more than 5 minutes`)
    expect(stale.stdout).to.include(`Newest good backup: ${path.join(place.location, regularName(old))}`)
    const body = parseJson(
      await run(['library:verify', '--path', place.location, '--quick', '--max-age', '26h', '--json']),
    ) as unknown as VerifyJson
    expect(body).to.include({fresh: false})
    expect(body.future_dated?.created_at).to.equal(future)

    // --latest checks the newest that is not dated in the future: the stale one, so exit 9 again.
    const latest = await run(['library:verify', '--latest', '--path', place.location, '--max-age', '26h'])
    expect(latest.code, latest.stdout + latest.stderr).to.equal(9)
    expect(latest.stdout).to.include(`Checked 1 backup in ${place.location}`)
    expect(latest.stdout).to.include(regularName(old))
    const plan = await json<RestorePlanJson>(['library:restore', '--latest', '--dry-run', '--path', place.location])
    expect(path.basename(plan.source_path)).to.equal(regularName(old))
    const pruned = await json<PruneJson>(['library:prune', '--path', place.location, '--keep-last', '1', '--dry-run'])
    const reasons = Object.fromEntries(pruned.kept.map((entry) => [path.basename(entry.path), entry.reasons]))
    expect(reasons).to.deep.equal({[regularName(future)]: ['last'], [regularName(old)]: ['newest readable']})
  })

  it('7. verify reports every backup (a locked one as such) and a 0-byte object at once as empty', async () => {
    const place = s3Place()
    const now = Date.now()
    const [t1, t2, t3] = [3, 2, 1].map((days) => createdAtAgo(days * DAY, now))
    await place.put(regularName(t1), await plainArchive(t1))
    await place.put(`${regularName(t2)}.age`, await encryptedArchive(t2))
    await place.put(regularName(t3), Buffer.alloc(0))

    const started = Date.now()
    const listed = byName(await listing(place))
    expect(Date.now() - started, 'no retries for an empty object').to.be.below(8000)
    expect(listed[regularName(t3)]).to.include({whole: false, readable: false})
    expect(listed[regularName(t3)].problem).to.match(/the file is empty$/)

    const result = await run(['library:verify', '--path', place.location, '--json'])
    expect(result.code, result.stderr).to.equal(3)
    const body = parseJson(result) as unknown as VerifyJson
    const checks = Object.fromEntries(body.backups.map((entry) => [path.posix.basename(entry.path), entry]))
    expect(checks[regularName(t1)]).to.include({ok: true, checksum_verified: true})
    expect(checks[`${regularName(t2)}.age`]).to.include({ok: false, locked: true})
    expect(checks[regularName(t3)]).to.include({ok: false})
    expect(checks[regularName(t3)].problem).to.match(/the file is empty$/)

    // Without the damaged one, the locked one alone decides: exit 10, every backup still reported.
    const onlyGoodAndLocked = s3Place()
    await onlyGoodAndLocked.put(regularName(t1), await plainArchive(t1))
    await onlyGoodAndLocked.put(`${regularName(t2)}.age`, await encryptedArchive(t2))
    const locked = await run(['library:verify', '--path', onlyGoodAndLocked.location])
    expect(locked.code, locked.stderr).to.equal(10)
    expect(locked.stdout).to.match(/ {2}ok {6}s3:\/\/.*\(.*sha256 verified\)/)
    expect(locked.stdout).to.match(/ {2}LOCKED {2}s3:\/\/.*is encrypted/)
    const opened = await run(['library:verify', '--path', onlyGoodAndLocked.location, '--identity', key.identityFile])
    expect(opened.code, opened.stderr).to.equal(0)
  })

  it('archives from before the length was recorded still list whole, and cut short as damaged, in both places', async () => {
    const {indexedMemberLength, storedMember} = await import('../../src/lib/archive/gzip-members.js')
    const {inflateFirstMember} = await import('../../src/lib/archive/gzip-inflate.js')
    const createdAt = createdAtAgo(DAY)
    const bytes = await plainArchive(createdAt)
    const headLength = indexedMemberLength(bytes)!
    // The previous release's head member: the same metadata, without the archive length.
    const legacy = Buffer.concat([storedMember(inflateFirstMember(bytes)!), bytes.subarray(headLength)])
    expect(legacy.length).to.be.below(bytes.length)
    for (const place of [s3Place(), localPlace()]) {
      await place.put(regularName(createdAt), legacy)
      await place.put(regularName(createdAt, '-2'), legacy.subarray(0, -40))
      await place.put(regularName(createdAt, '-3'), legacy.subarray(0, 300_000))
      const listed = byName(await listing(place))
      expect(listed[regularName(createdAt)], place.kind).to.include({whole: true, readable: true})
      expect(listed[regularName(createdAt, '-2')], place.kind).to.include({whole: false})
      expect(listed[regularName(createdAt, '-3')], place.kind).to.include({whole: false})
    }
  })

  it('cut at every gzip member boundary and extended in any way, in s3://: never whole', async () => {
    const place = s3Place()
    const createdAt = createdAtAgo(DAY)
    const bytes = await plainArchive(createdAt)
    const {readMemberLayout} = await import('../../src/lib/archive/gzip-inflate.js')
    const file = path.join(work, 'layout.tar.gz')
    fs.writeFileSync(file, bytes)
    const layout = await readMemberLayout(file)
    expect(layout.members).to.be.greaterThan(3)
    const variants: Array<[string, Buffer]> = [
      ...layout.offsets.slice(1).map((offset): [string, Buffer] => [`cut at ${offset}`, bytes.subarray(0, offset)]),
      ['one byte short', bytes.subarray(0, -1)],
      ['a byte appended', Buffer.concat([bytes, Buffer.from([0])])],
      ['a second copy appended', Buffer.concat([bytes, bytes])],
      ['the last member twice', Buffer.concat([bytes, bytes.subarray(layout.offsets.at(-1))])],
    ]
    await place.put(regularName(createdAt), bytes)
    for (const [index, [, variant]] of variants.entries())
      await place.put(regularName(createdAt, `-${index + 2}`), variant)

    const listed = byName(await listing(place))
    expect(listed[regularName(createdAt)]).to.include({whole: true, readable: true})
    for (const [index, [what]] of variants.entries())
      expect(listed[regularName(createdAt, `-${index + 2}`)], what).to.include({whole: false, readable: false})
  })
})
