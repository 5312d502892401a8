/**
 * S3 benchmark (a report, not a test): what an `s3://` location adds to the commands, on
 * loopback against s3rver, for the same ~100 MB library as `npm run bench`.
 *
 *   npx tsx scripts/bench-s3.ts [--runs N]
 *
 * Until the commands accept s3:// locations this times the parts: a local backup as a whole
 * process, then, in a fresh process each, loading the SDK plus committing that archive (upload
 * and read-back check), loading plus fetching it, and loading plus listing 50 remote archives with
 * their heads (8 at a time). Backup to S3 ~ local backup + commit; restore ~ local restore + fetch
 * (a local restore of the same archive is timed too).
 */
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'
import {parseArgs} from 'node:util'

import {createLibrary} from '../test/fixtures/library-generator.js'
import {startS3Server} from '../test/helpers/s3-server.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const FIXTURE = {files: 88_000, walFiles: 200, seed: 45}
const BUCKET = 'bench'

/** One operation in a fresh process, timed from before the SDK is imported to the end. */
const OPERATION = String.raw`
const started = performance.now()
const {S3Bucket} = await import(process.env.S3_BUCKET_MODULE)
const [op, arg] = process.argv.slice(2)
const bucket = new S3Bucket('s3://${BUCKET}/' + (op === 'list' ? 'listing/' : 'archives/'))
if (op === 'commit') {
  const fs = await import('node:fs')
  const staged = (await bucket.prepareStaging()) + '/bench-staged-' + process.pid
  // Staging stands in for the backup writing its archive there: not part of the S3 cost.
  const copying = performance.now()
  fs.copyFileSync(arg, staged)
  const copyMs = performance.now() - copying
  const name = 'vpo-library-' + process.pid + '.tar.gz'
  if (!(await bucket.commit(staged, name, {overwrite: false}))) throw new Error('exists')
  console.log(JSON.stringify({ms: performance.now() - started - copyMs, name}))
} else if (op === 'fetch') {
  const got = await bucket.fetch(process.env.FETCH_NAME, arg)
  got.dispose()
  console.log(JSON.stringify({ms: performance.now() - started}))
} else {
  const names = (await bucket.list(() => true)).map((entry) => entry.name)
  let next = 0
  await Promise.all(Array.from({length: 8}, async () => {
    while (next < names.length) await bucket.readHead(names[next++], 8192)
  }))
  console.log(JSON.stringify({ms: performance.now() - started, count: names.length}))
}
`

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv): {ms: number; out: string; rssMb: number} {
  const rssFile = path.join(os.tmpdir(), `bench-s3-rss-${process.pid}`)
  const start = performance.now()
  const child = spawnSync('/usr/bin/time', ['-o', rssFile, '-f', '%M', command, ...args], {env, encoding: 'utf8'})
  const ms = performance.now() - start
  if (child.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${child.stderr}`)
  const rssMb = Math.round(Number(fs.readFileSync(rssFile, 'utf8').trim().split('\n').at(-1)) / 1024)
  fs.rmSync(rssFile)
  return {ms, out: child.stdout, rssMb}
}

function fixture(): string {
  const dir = path.join(ROOT, '.bench', `library-files${FIXTURE.files}-wal${FIXTURE.walFiles}-seed${FIXTURE.seed}`)
  if (!fs.existsSync(path.join(dir, 'library.db'))) {
    console.log('Building the fixture (once)…')
    fs.mkdirSync(dir, {recursive: true})
    createLibrary(path.join(dir, 'library.db'), FIXTURE)
    fs.rmSync(path.join(dir, 'library.db-shm'), {force: true})
  }

  return dir
}

const {values} = parseArgs({options: {runs: {type: 'string', default: '3'}}})
const runs = Math.max(1, Number(values.runs))
spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], {cwd: ROOT, stdio: 'inherit'})
const source = fixture()
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'vpo-bench-s3-'))
const server = await startS3Server([BUCKET])
try {
  const script = path.join(scratch, 'operation.mjs')
  fs.writeFileSync(script, OPERATION)
  const env = {
    ...process.env,
    ...server.env,
    S3_BUCKET_MODULE: pathToFileURL(path.join(ROOT, 'dist/lib/storage/s3-bucket.js')).href,
  }

  const local: number[] = []
  let archive = ''
  for (let i = 0; i < runs; i++) {
    const data = path.join(scratch, `data-${i}`)
    fs.mkdirSync(data)
    for (const file of ['library.db', 'library.db-wal']) fs.copyFileSync(path.join(source, file), path.join(data, file))
    const out = path.join(scratch, `out-${i}`)
    fs.mkdirSync(out)
    const result = run(process.execPath, [path.join(ROOT, 'bin/run.js'), 'library:backup', '--db', path.join(data, 'library.db'), '--output', out], env)
    local.push(result.ms)
    archive = path.join(out, fs.readdirSync(out).find((name) => name.endsWith('.tar.gz'))!)
    console.log(`local backup ${i + 1}: ${result.ms.toFixed(0)} ms, ${result.rssMb} MB RSS`)
  }

  const restores: number[] = []
  for (let i = 0; i < runs; i++) {
    const db = path.join(scratch, `data-${i}`, 'library.db')
    restores.push(run(process.execPath, [path.join(ROOT, 'bin/run.js'), 'library:restore', archive, '--db', db, '--yes'], env).ms)
  }

  const commits = Array.from({length: runs}, () => run(process.execPath, [script, 'commit', archive], env))
  const commitMs = commits.map((c) => (JSON.parse(c.out) as {ms: number}).ms)
  const {name} = JSON.parse(commits[0].out) as {name: string}
  const fetches = Array.from({length: runs}, () => run(process.execPath, [script, 'fetch', scratch], {...env, FETCH_NAME: name}))

  const head = fs.readFileSync(archive).subarray(0, 64 * 1024)
  const listingDir = path.join(scratch, 'heads')
  fs.mkdirSync(listingDir)
  for (let i = 0; i < 50; i++) fs.writeFileSync(path.join(listingDir, `vpo-library-${i}.tar.gz`), head)
  const seed = String.raw`
const {S3Bucket} = await import(process.env.S3_BUCKET_MODULE)
const fs = await import('node:fs')
const bucket = new S3Bucket('s3://${BUCKET}/listing/')
for (const name of fs.readdirSync(process.argv[2])) {
  const staged = (await bucket.prepareStaging()) + '/bench-seed-' + process.pid
  fs.copyFileSync(process.argv[2] + '/' + name, staged)
  await bucket.commit(staged, name, {overwrite: false})
}`
  fs.writeFileSync(path.join(scratch, 'seed.mjs'), seed)
  run(process.execPath, [path.join(scratch, 'seed.mjs'), listingDir], env)
  const listings = Array.from({length: runs}, () => run(process.execPath, [script, 'list'], env))

  const archiveMb = (fs.statSync(archive).size / 1024 / 1024).toFixed(1)
  const localMs = median(local)
  const commit = median(commitMs)
  console.log(`\narchive ${archiveMb} MB; median of ${runs} runs`)
  console.log(`local backup (whole process)          ${localMs.toFixed(0)} ms`)
  console.log(`S3 commit incl. SDK load (in process) ${commit.toFixed(0)} ms, peak RSS ${Math.max(...commits.map((c) => c.rssMb))} MB`)
  console.log(`backup to S3 estimate                 ${(localMs + commit).toFixed(0)} ms = ${((localMs + commit) / localMs).toFixed(2)}x local (target 1.3x)`)
  const fetchMs = median(fetches.map((f) => (JSON.parse(f.out) as {ms: number}).ms))
  const restoreMs = median(restores)
  console.log(`S3 fetch incl. SDK load (in process)  ${fetchMs.toFixed(0)} ms, peak RSS ${Math.max(...fetches.map((f) => f.rssMb))} MB`)
  console.log(`local restore (whole process)         ${restoreMs.toFixed(0)} ms`)
  console.log(`restore from S3 estimate              ${(restoreMs + fetchMs).toFixed(0)} ms = ${((restoreMs + fetchMs) / restoreMs).toFixed(2)}x local (target 1.3x)`)
  console.log(`list 50 + heads (whole process)       ${median(listings.map((l) => l.ms)).toFixed(0)} ms (in process ${median(listings.map((l) => (JSON.parse(l.out) as {ms: number}).ms)).toFixed(0)} ms), target 1000 ms`)
} finally {
  await server.stop()
  fs.rmSync(scratch, {recursive: true, force: true})
}
