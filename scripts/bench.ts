import {generateX25519Identity, identityToRecipient} from 'age-encryption'
/**
 * Benchmark (a report, not a test): times the plugin's commands as whole processes on a ~100 MB
 * realistic library against a Python-stdlib baseline doing what VPO's own tool does.
 *
 *   npm run bench [-- --runs N] [--only encryption|object-storage|startup|syscalls|large]
 *
 * `--only encryption` runs just the encrypted backup and restore against the plain ones.
 * `--only syscalls` counts the read/write system calls of one backup and one restore (strace).
 * `--only large` (never part of a full run: it builds a 1 GB library once, in .bench/) times
 * backup and restore of 1 GB against 100 MB and reports the 1 GB peak RSS.
 *
 * Each figure is the median wall time of N runs (default 5, at least 3) of a complete process,
 * with peak RSS from GNU time when /usr/bin/time is available. Exits 0 whether targets are met or
 * missed; non-zero only when a command fails or the bench itself breaks.
 */
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {parseArgs} from 'node:util'

import {createLibrary} from '../test/fixtures/library-generator.js'
import {benchObjectStorage, benchStartup, type RemoteBenchContext} from './bench-remote.js'
import {benchLarge, benchSyscalls, type ScaleContext, type ScaleRow} from './bench-scale.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const RUN_JS = path.join(ROOT, 'bin', 'run.js')
const FIXTURE = {files: 88_000, walFiles: 200, seed: 45}
/** About 1 GB: the same library, eleven times the files. */
const LARGE_FIXTURE = {files: 968_000, walFiles: 200, seed: 46}
const LISTING_ARCHIVES = 50

const TARGET = {
  backupRatio: 0.4,
  restoreRatio: 0.5,
  sizeReductionPercent: 60,
  rssMb: 150,
  listingSeconds: 0.5,
  /** Full verify of one archive against restore --dry-run of it: the same checks, shared code. */
  verifyRatio: 1,
  quickVerifySeconds: 1,
  /** Encrypted backup or restore against the same command on a plain archive (issue 13). */
  encryptionRatio: 1.1,
  /** Backup to, or restore from, s3:// on loopback against the same command on a local directory (issue 12). */
  objectStorageRatio: 1.3,
  remoteListingSeconds: 1,
}

/** VPO's Python tool: online backup to a snapshot, then a w:gz tarfile with the db then metadata. */
const PY_BACKUP = String.raw`
import datetime, json, os, sqlite3, sys, tarfile
db, out = sys.argv[1], sys.argv[2]
snapshot = out + ".snapshot.db"
meta_path = out + ".metadata.json"
src = sqlite3.connect(db)
dst = sqlite3.connect(snapshot)
src.backup(dst)
src.close()
file_count, total = dst.execute("SELECT COUNT(*), COALESCE(SUM(size_bytes), 0) FROM files").fetchone()
schema = int(dst.execute("SELECT value FROM _meta WHERE key = 'schema_version'").fetchone()[0])
dst.close()
meta = {
    "vpo_version": "0.0.0-baseline",
    "schema_version": schema,
    "created_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "database_size_bytes": os.path.getsize(snapshot),
    "file_count": file_count,
    "total_library_size_bytes": total,
    "compression": "gzip",
}
with open(meta_path, "w") as f:
    json.dump(meta, f, indent=2)
with tarfile.open(out, "w:gz") as tar:
    tar.add(snapshot, arcname="library.db")
    tar.add(meta_path, arcname="backup_metadata.json")
os.remove(snapshot)
os.remove(meta_path)
`

/** The Python restore path: stream library.db out of the tar beside the db, quick_check, rename. */
const PY_RESTORE = String.raw`
import os, shutil, sqlite3, sys, tarfile
archive, db = sys.argv[1], sys.argv[2]
tmp = db + ".restore-tmp"
found = False
with tarfile.open(archive, "r:gz") as tar:
    for member in tar:
        if member.name == "library.db" and member.isfile():
            with tar.extractfile(member) as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            found = True
            break
if not found:
    sys.exit("library.db not in archive")
conn = sqlite3.connect(tmp)
result = conn.execute("PRAGMA quick_check").fetchone()[0]
conn.close()
if result != "ok":
    os.remove(tmp)
    sys.exit("quick_check: " + result)
for suffix in ("-wal", "-shm", "-journal"):
    try:
        os.remove(db + suffix)
    except FileNotFoundError:
        pass
os.replace(tmp, db)
`

interface Measurement {
  seconds: number
  rssKb: null | number
  stdout: string
}

interface Series {
  rssKb: null | number
  seconds: number
}

class BenchError extends Error {}

function log(message: string): void {
  process.stderr.write(`${message}\n`)
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`
}

function gnuTimeWorks(): boolean {
  if (!fs.existsSync('/usr/bin/time')) return false
  const probe = spawnSync('/usr/bin/time', ['-f', '%M', 'true'], {encoding: 'utf8'})
  return probe.status === 0 && /^\d+\s*$/m.test(probe.stderr)
}

const HAVE_GNU_TIME = gnuTimeWorks()

/** Runs one whole process; wall time measured here, peak RSS by GNU time into a side file. */
function measure(scratch: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Measurement {
  const rssFile = path.join(scratch, 'rss.txt')
  fs.rmSync(rssFile, {force: true})
  const [file, argv] = HAVE_GNU_TIME
    ? ['/usr/bin/time', ['-o', rssFile, '-f', '%M', command, ...args]]
    : [command, args]
  // Each run starts with nothing left to write back: otherwise a run's fsync also waits for the
  // fixture copy made just before it, or for the run before, and the same command varies by 30%.
  spawnSync('sync')
  const start = process.hrtime.bigint()
  const result = spawnSync(file, argv, {encoding: 'utf8', env, maxBuffer: 64 * 1024 * 1024})
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  if (result.error) throw new BenchError(`could not run ${command}: ${result.error.message}`)
  if (result.status !== 0) {
    const shown = [command, ...args].map((a) => (a.length > 200 ? `${a.slice(0, 60)}…` : a)).join(' ')
    throw new BenchError(
      `command failed (exit ${result.status ?? result.signal}): ${shown}\n${result.stdout}${result.stderr}`,
    )
  }

  let rssKb: null | number = null
  if (HAVE_GNU_TIME && fs.existsSync(rssFile)) {
    const lines = fs.readFileSync(rssFile, 'utf8').trim().split('\n')
    const value = Number(lines.at(-1))
    rssKb = Number.isFinite(value) ? value : null
  }

  return {seconds, rssKb, stdout: result.stdout}
}

function summarize(samples: Measurement[]): Series {
  const rss = samples.map((s) => s.rssKb).filter((v): v is number => v !== null)
  return {
    seconds: median(samples.map((s) => s.seconds)),
    // The peak over all runs: the figure a user could hit.
    rssKb: rss.length === samples.length ? Math.max(...rss) : null,
  }
}

function rssText(kb: null | number): string {
  return kb === null ? 'n/a' : `${Math.round(kb / 1024)} MB`
}

/** Builds the fixture once under .bench/, keyed by its parameters; later runs reuse it. */
function fixture(parameters: {files: number; seed: number; walFiles: number} = FIXTURE): {db: string; wal: string} {
  const key = `library-files${parameters.files}-wal${parameters.walFiles}-seed${parameters.seed}`
  const dir = path.join(ROOT, '.bench', key)
  const db = path.join(dir, 'library.db')
  const wal = `${db}-wal`
  if (fs.existsSync(db) && fs.existsSync(wal)) return {db, wal}

  log(`Building the ${parameters.files.toLocaleString('en-US')}-file fixture in .bench/${key} (once)…`)
  const building = path.join(ROOT, '.bench', `${key}.building-${process.pid}`)
  fs.rmSync(building, {recursive: true, force: true})
  const start = Date.now()
  try {
    createLibrary(path.join(building, 'library.db'), parameters)
    // Only the db and its WAL are the fixture; the generator's read-only check leaves a -shm.
    fs.rmSync(path.join(building, 'library.db-shm'), {force: true})
    fs.rmSync(dir, {recursive: true, force: true})
    fs.renameSync(building, dir)
  } finally {
    fs.rmSync(building, {recursive: true, force: true})
  }

  log(`  built in ${((Date.now() - start) / 1000).toFixed(1)} s`)
  return {db, wal}
}

/** A fresh data dir holding a copy of the fixture (db + WAL, no -shm), as the daemon leaves it. */
function freshDataDir(scratch: string, source: {db: string; wal: string}, name: string): string {
  const dir = path.join(scratch, name)
  fs.rmSync(dir, {recursive: true, force: true})
  fs.mkdirSync(dir, {recursive: true})
  fs.copyFileSync(source.db, path.join(dir, 'library.db'))
  fs.copyFileSync(source.wal, path.join(dir, 'library.db-wal'))
  return dir
}

/** One line of the report; the scale figures use the same shape. */
type Row = ScaleRow

function verdict(ok: boolean): string {
  return ok ? 'PASS' : 'MISS'
}

function printTable(rows: Row[]): void {
  const headers: Row = {
    operation: 'operation',
    ours: 'ours (median)',
    baseline: 'baseline (median)',
    ratio: 'ratio',
    target: 'target',
    result: 'result',
    rss: 'peak RSS ours / baseline',
  }
  const keys = Object.keys(headers) as Array<keyof Row>
  const widths = keys.map((k) => Math.max(headers[k].length, ...rows.map((r) => r[k].length)))
  const line = (row: Row) =>
    keys
      .map((k, i) => row[k].padEnd(widths[i]))
      .join('  ')
      .trimEnd()
  console.log(line(headers))
  console.log(widths.map((w) => '-'.repeat(w)).join('  '))
  for (const row of rows) console.log(line(row))
}

interface Context {
  node: string
  python: string
  runs: number
  scratch: string
  source: {db: string; wal: string}
}

interface BackupReport {
  archive_size_bytes: number
  database_size_bytes: number
}

/** Runs ours and the baseline `runs` times each, alternating which goes first so drift evens out. */
function alternate(
  ctx: Context,
  label: string,
  ours: (i: number) => Measurement,
  baseline: (i: number) => Measurement,
): {base: Measurement[]; ours: Measurement[]} {
  const result = {ours: [] as Measurement[], base: [] as Measurement[]}
  // One unrecorded run of each side first: the first run of a series pays for what the part before
  // left behind (page cache, writeback, blocks to free), and whichever side went first took that.
  ours(-1)
  baseline(-1)
  for (let i = 0; i < ctx.runs; i++) {
    const sides = i % 2 === 0 ? (['ours', 'baseline'] as const) : (['baseline', 'ours'] as const)
    for (const side of sides) {
      const m = side === 'ours' ? ours(i) : baseline(i)
      ;(side === 'ours' ? result.ours : result.base).push(m)
      log(`  ${label} ${side.padEnd(8)} run ${i + 1}/${ctx.runs}: ${m.seconds.toFixed(2)} s`)
    }
  }

  return result
}

/**
 * Peak RSS against the memory target. A command that reads a database of up to 128 MiB through a
 * memory map (backup, restore, full verify) counts its mapped pages too, shared page cache the
 * kernel can reclaim: for those the row is for information, and the target is judged where maps
 * stop, on the 1 GB library (`--only large`).
 */
function rssRow(operation: string, ours: Series, base: Series, options: {mapsDatabase?: boolean} = {}): Row {
  const judged = !options.mapsDatabase && ours.rssKb !== null
  return {
    operation,
    ours: rssText(ours.rssKb),
    baseline: rssText(base.rssKb),
    ratio: '',
    target: options.mapsDatabase ? `— (mapped; 1 GB ≤ ${TARGET.rssMb} MB)` : `≤ ${TARGET.rssMb} MB`,
    result: judged ? verdict(ours.rssKb! / 1024 <= TARGET.rssMb) : options.mapsDatabase ? '' : 'n/a',
    rss: '',
  }
}

function timeRow(operation: string, ours: Series, base: Series, target: number): Row {
  const ratio = ours.seconds / base.seconds
  return {
    operation,
    ours: `${ours.seconds.toFixed(2)} s`,
    baseline: `${base.seconds.toFixed(2)} s`,
    ratio: ratio.toFixed(2),
    target: `ratio ≤ ${target.toFixed(2)}`,
    result: verdict(ratio <= target),
    rss: `${rssText(ours.rssKb)} / ${rssText(base.rssKb)}`,
  }
}

/** Backup: ours vs VPO's Python tool. Leaves one of our archives at `archive` for the later steps. */
function benchBackup(ctx: Context, archive: string): {report: BackupReport; rows: Row[]} {
  let report: BackupReport | undefined
  let baselineArchiveBytes = 0
  const outDir = path.join(ctx.scratch, 'out')
  fs.mkdirSync(outDir, {recursive: true})

  const runs = alternate(
    ctx,
    'backup ',
    (i) => {
      const dataDir = freshDataDir(ctx.scratch, ctx.source, 'data')
      const out = path.join(outDir, `ours-${i}.tar.gz`)
      const m = measure(ctx.scratch, ctx.node, [RUN_JS, 'library:backup', '--output', out, '--json'], {
        ...process.env,
        VPO_DATA_DIR: dataDir,
      })
      report = JSON.parse(m.stdout) as BackupReport
      if (!fs.existsSync(out)) throw new BenchError(`library:backup reported success but wrote no ${out}`)
      fs.renameSync(out, archive)
      return m
    },
    (i) => {
      const dataDir = freshDataDir(ctx.scratch, ctx.source, 'data')
      const out = path.join(outDir, `baseline-${i}.tar.gz`)
      const m = measure(ctx.scratch, ctx.python, ['-c', PY_BACKUP, path.join(dataDir, 'library.db'), out])
      baselineArchiveBytes = fs.statSync(out).size
      fs.rmSync(out)
      return m
    },
  )

  const ours = summarize(runs.ours)
  const base = summarize(runs.base)
  const db = report!.database_size_bytes
  const reduction = (1 - report!.archive_size_bytes / db) * 100
  const baseReduction = (1 - baselineArchiveBytes / db) * 100
  return {
    report: report!,
    rows: [
      timeRow('library:backup', ours, base, TARGET.backupRatio),
      {
        operation: '  archive vs database',
        ours: `${mb(report!.archive_size_bytes)} of ${mb(db)} (${reduction.toFixed(1)}% smaller)`,
        baseline: `${mb(baselineArchiveBytes)} (${baseReduction.toFixed(1)}% smaller)`,
        ratio: '',
        target: `≥ ${TARGET.sizeReductionPercent}% smaller`,
        result: verdict(reduction >= TARGET.sizeReductionPercent),
        rss: '',
      },
      rssRow('  backup peak RSS', ours, base, {mapsDatabase: true}),
    ],
  }
}

/** Restore of our archive onto a fresh copy of the data dir: ours vs the Python extract + rename. */
function benchRestore(ctx: Context, archive: string, report: BackupReport): Row[] {
  const restore = (side: string, run: (dataDir: string, db: string) => Measurement) => () => {
    const dataDir = freshDataDir(ctx.scratch, ctx.source, 'data')
    const db = path.join(dataDir, 'library.db')
    const m = run(dataDir, db)
    if (fs.statSync(db).size !== report.database_size_bytes)
      throw new BenchError(`restore (${side}) left a database of the wrong size`)
    return m
  }

  const runs = alternate(
    ctx,
    'restore',
    restore('ours', (dataDir) =>
      measure(ctx.scratch, ctx.node, [RUN_JS, 'library:restore', archive, '--yes', '--no-safety-backup', '--json'], {
        ...process.env,
        VPO_DATA_DIR: dataDir,
      }),
    ),
    restore('baseline', (_dataDir, db) => measure(ctx.scratch, ctx.python, ['-c', PY_RESTORE, archive, db])),
  )
  fs.rmSync(path.join(ctx.scratch, 'data'), {recursive: true, force: true})

  const ours = summarize(runs.ours)
  const base = summarize(runs.base)
  return [
    timeRow('library:restore', ours, base, TARGET.restoreRatio),
    rssRow('  restore peak RSS', ours, base, {mapsDatabase: true}),
  ]
}

/** 50 hard links of one archive of the fixture: 50 real archives without 1.6 GB of copies. */
function listingDir(ctx: Context, archive: string): string {
  const listDir = path.join(ctx.scratch, 'listing')
  fs.mkdirSync(listDir)
  for (let n = 0; n < LISTING_ARCHIVES; n++) {
    fs.linkSync(archive, path.join(listDir, `vpo-library-2026-01-01T0000${String(n).padStart(2, '0')}Z.tar.gz`))
  }

  return listDir
}

/** Listing the 50 archives, plus bare CLI startup for scale. */
function benchListing(ctx: Context, listDir: string): Row[] {
  const listing: Measurement[] = []
  const startup: Measurement[] = []
  for (let i = 0; i < ctx.runs; i++) {
    const m = measure(ctx.scratch, ctx.node, [RUN_JS, 'library:backups', '--path', listDir, '--json'])
    const parsed = JSON.parse(m.stdout) as {backups: Array<{readable: boolean}>; total_count: number}
    const readable = parsed.backups.filter((b) => b.readable).length
    if (parsed.total_count !== LISTING_ARCHIVES || readable !== LISTING_ARCHIVES) {
      throw new BenchError(
        `library:backups listed ${parsed.total_count} archives (${readable} readable), expected ${LISTING_ARCHIVES}`,
      )
    }

    listing.push(m)
    startup.push(measure(ctx.scratch, ctx.node, [RUN_JS, '--version']))
    log(
      `  listing run ${i + 1}/${ctx.runs}: ${m.seconds.toFixed(2)} s (bare startup ${startup.at(-1)!.seconds.toFixed(2)} s)`,
    )
  }

  const list = summarize(listing)
  const start = summarize(startup)
  return [
    {
      operation: `library:backups (${LISTING_ARCHIVES} archives)`,
      ours: `${list.seconds.toFixed(2)} s`,
      baseline: '—',
      ratio: '—',
      target: `≤ ${TARGET.listingSeconds.toFixed(2)} s`,
      result: verdict(list.seconds <= TARGET.listingSeconds),
      rss: rssText(list.rssKb),
    },
    {
      operation: '  (for scale: bin/run.js --version)',
      ours: `${start.seconds.toFixed(2)} s`,
      baseline: '—',
      ratio: '—',
      target: '—',
      result: '',
      rss: rssText(start.rssKb),
    },
  ]
}

/**
 * library:verify: a full check of one archive against `restore --dry-run` of it (the same checks,
 * so the same time is the target), `--quick` over the 50 archives, and prune --dry-run over them.
 */
function benchVerify(ctx: Context, archive: string, listDir: string): Row[] {
  // restore --dry-run needs a library to plan against; it changes nothing, so one copy serves every run.
  const dataDir = freshDataDir(ctx.scratch, ctx.source, 'verify-data')
  const env = {...process.env, VPO_DATA_DIR: dataDir}
  const full = alternate(
    ctx,
    'verify ',
    () => {
      const m = measure(ctx.scratch, ctx.node, [RUN_JS, 'library:verify', archive, '--json'], env)
      const parsed = JSON.parse(m.stdout) as {backups: Array<{checksum_verified: boolean; ok: boolean}>}
      if (!parsed.backups[0]?.ok || !parsed.backups[0].checksum_verified)
        throw new BenchError(`library:verify did not verify ${archive}`)
      return m
    },
    () => measure(ctx.scratch, ctx.node, [RUN_JS, 'library:restore', archive, '--dry-run', '--json'], env),
  )

  const quick: Measurement[] = []
  const prune: Measurement[] = []
  for (let i = 0; i < ctx.runs; i++) {
    const q = measure(ctx.scratch, ctx.node, [RUN_JS, 'library:verify', '--quick', '--path', listDir, '--json'])
    const checked = (JSON.parse(q.stdout) as {backups: Array<{ok: boolean}>}).backups
    if (checked.length !== LISTING_ARCHIVES || !checked.every((entry) => entry.ok))
      throw new BenchError(
        `library:verify --quick checked ${checked.length} archives, not ${LISTING_ARCHIVES} good ones`,
      )
    quick.push(q)
    const p = measure(ctx.scratch, ctx.node, [
      RUN_JS,
      'library:prune',
      '--path',
      listDir,
      '--keep-daily',
      '7',
      '--keep-weekly',
      '4',
      '--keep-monthly',
      '6',
      '--dry-run',
      '--json',
    ])
    const planned = JSON.parse(p.stdout) as {kept: unknown[]; removed: unknown[]}
    if (planned.kept.length + planned.removed.length !== LISTING_ARCHIVES)
      throw new BenchError('library:prune --dry-run did not plan for every archive')
    if (fs.readdirSync(listDir).length !== LISTING_ARCHIVES)
      throw new BenchError('library:prune --dry-run removed something')
    prune.push(p)
    log(
      `  verify --quick run ${i + 1}/${ctx.runs}: ${q.seconds.toFixed(2)} s; prune --dry-run ${p.seconds.toFixed(2)} s`,
    )
  }

  fs.rmSync(dataDir, {recursive: true, force: true})
  const ours = summarize(full.ours)
  const dryRun = summarize(full.base)
  const quickSeries = summarize(quick)
  const pruneSeries = summarize(prune)
  const row = (operation: string, series: Series, target?: number): Row => ({
    operation,
    ours: `${series.seconds.toFixed(2)} s`,
    baseline: '—',
    ratio: '—',
    target: target === undefined ? '—' : `≤ ${target.toFixed(2)} s`,
    result: target === undefined ? '' : verdict(series.seconds <= target),
    rss: rssText(series.rssKb),
  })
  return [
    {
      ...timeRow('library:verify (1 archive, full)', ours, dryRun, TARGET.verifyRatio),
      baseline: `${dryRun.seconds.toFixed(2)} s (restore --dry-run)`,
    },
    rssRow('  verify peak RSS', ours, dryRun, {mapsDatabase: true}),
    row(`library:verify --quick (${LISTING_ARCHIVES} archives)`, quickSeries, TARGET.quickVerifySeconds),
    rssRow('  verify --quick peak RSS', quickSeries, quickSeries),
    row(`library:prune --dry-run (${LISTING_ARCHIVES} archives)`, pruneSeries),
  ]
}

interface BenchKey {
  identityFile: string
  recipient: string
}

/** An X25519 key pair made in-process, so the bench needs no `age` binary. */
async function benchKey(scratch: string): Promise<BenchKey> {
  const secret = await generateX25519Identity()
  const identityFile = path.join(scratch, 'bench-key.txt')
  fs.writeFileSync(identityFile, `${secret}\n`, {mode: 0o600})
  return {identityFile, recipient: await identityToRecipient(secret)}
}

/**
 * What encryption adds: `library:backup --encrypt-to` against a plain `library:backup`, and
 * `library:restore --identity` of the encrypted archive against a plain restore, whole processes
 * alternated on the same fixture, so the ratio is the whole cost a user sees.
 */
function benchEncryption(ctx: Context, key: BenchKey): Row[] {
  const archives = {age: '', plain: ''}
  const backup = (kind: 'age' | 'plain', args: string[]) => (i: number) => {
    const dataDir = freshDataDir(ctx.scratch, ctx.source, 'data')
    const outDir = path.join(ctx.scratch, `enc-out-${kind}-${i}`)
    fs.mkdirSync(outDir)
    const m = measure(ctx.scratch, ctx.node, [RUN_JS, 'library:backup', '--output', outDir, '--json', ...args], {
      ...process.env,
      VPO_DATA_DIR: dataDir,
    })
    const made = JSON.parse(m.stdout) as {encrypted?: boolean; path: string}
    if (Boolean(made.encrypted) !== (kind === 'age'))
      throw new BenchError(`library:backup ${args.join(' ')} did not ${kind === 'age' ? '' : 'not '}encrypt`)
    if (archives[kind]) fs.rmSync(path.dirname(archives[kind]), {recursive: true, force: true})
    archives[kind] = made.path
    return m
  }

  const backups = alternate(
    ctx,
    'backup  age/plain',
    backup('age', ['--encrypt-to', key.recipient]),
    backup('plain', []),
  )
  const restore = (kind: 'age' | 'plain') => () => {
    const dataDir = freshDataDir(ctx.scratch, ctx.source, 'data')
    const args = [
      RUN_JS,
      'library:restore',
      archives[kind],
      '--yes',
      '--no-safety-backup',
      '--json',
      ...(kind === 'age' ? ['--identity', key.identityFile] : []),
    ]
    return measure(ctx.scratch, ctx.node, args, {...process.env, VPO_DATA_DIR: dataDir})
  }

  const restores = alternate(ctx, 'restore age/plain', restore('age'), restore('plain'))
  fs.rmSync(path.join(ctx.scratch, 'data'), {recursive: true, force: true})
  const row = (operation: string, runs: {base: Measurement[]; ours: Measurement[]}, plain: string): Row[] => {
    const ours = summarize(runs.ours)
    const base = summarize(runs.base)
    return [
      {...timeRow(operation, ours, base, TARGET.encryptionRatio), baseline: `${base.seconds.toFixed(2)} s (${plain})`},
      rssRow(`  ${operation.split(' ')[0]} encrypted peak RSS`, ours, base, {mapsDatabase: true}),
    ]
  }

  return [
    ...row('library:backup --encrypt-to', backups, 'plain backup'),
    {
      operation: '  encrypted vs plain archive',
      ours: mb(fs.statSync(archives.age).size),
      baseline: mb(fs.statSync(archives.plain).size),
      ratio: (fs.statSync(archives.age).size / fs.statSync(archives.plain).size).toFixed(4),
      target: '—',
      result: '',
      rss: '',
    },
    ...row('library:restore --identity', restores, 'plain restore'),
  ]
}

function objectStorageRows(figures: Awaited<ReturnType<typeof benchObjectStorage>>): Row[] {
  const list = summarize(figures.listRemote)
  return [
    timeRow(
      'library:backup --output s3://',
      summarize(figures.backupRemote),
      summarize(figures.backupLocal),
      TARGET.objectStorageRatio,
    ),
    rssRow('  backup to s3 peak RSS', summarize(figures.backupRemote), summarize(figures.backupLocal), {
      mapsDatabase: true,
    }),
    timeRow(
      'library:restore s3://…',
      summarize(figures.restoreRemote),
      summarize(figures.restoreLocal),
      TARGET.objectStorageRatio,
    ),
    rssRow('  restore from s3 peak RSS', summarize(figures.restoreRemote), summarize(figures.restoreLocal), {
      mapsDatabase: true,
    }),
    {
      operation: `library:backups --path s3:// (${figures.listed} archives)`,
      ours: `${list.seconds.toFixed(2)} s`,
      baseline: '—',
      ratio: '—',
      target: `≤ ${TARGET.remoteListingSeconds.toFixed(2)} s`,
      result: verdict(list.seconds <= TARGET.remoteListingSeconds),
      rss: rssText(list.rssKb),
    },
  ]
}

function startupRows(figures: ReturnType<typeof benchStartup>): Row[] {
  const bare = summarize(figures.bare)
  const row = (operation: string, series: Series): Row => ({
    operation,
    ours: `${series.seconds.toFixed(2)} s`,
    baseline: `${bare.seconds.toFixed(2)} s (node -e '')`,
    ratio: (series.seconds / bare.seconds).toFixed(2),
    target: '—',
    result: '',
    rss: rssText(series.rssKb),
  })
  return [
    row('library:backup --help', summarize(figures.help)),
    row('library:backups (empty directory)', summarize(figures.empty)),
  ]
}

async function main(): Promise<void> {
  const {values} = parseArgs({options: {only: {type: 'string'}, runs: {type: 'string', default: '5'}}, strict: true})
  const runs = Number(values.runs)
  if (!Number.isInteger(runs) || runs < 3) throw new BenchError('--runs must be an integer of at least 3')
  const parts = ['encryption', 'object-storage', 'startup', 'syscalls', 'large']
  if (values.only !== undefined && !parts.includes(values.only)) {
    throw new BenchError(`--only takes one of: ${parts.join(', ')}`)
  }

  if (!fs.existsSync(path.join(ROOT, 'dist', 'commands')))
    throw new BenchError('dist/ is missing: build the plugin first (npm run build)')

  // Resolve the real interpreter: a pyenv/venv shim would charge the baseline for its own startup.
  const pyProbe = spawnSync(
    'python3',
    ['-c', 'import sys, sqlite3; print(sys.executable); print(sys.version.split()[0]); print(sqlite3.sqlite_version)'],
    {encoding: 'utf8'},
  )
  if (pyProbe.status !== 0) throw new BenchError('python3 is needed for the baseline')
  const [python, pyVersion, pySqlite] = pyProbe.stdout.trim().split('\n')

  const source = fixture()
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'vpo-bench-'))
  const ctx: Context = {node: process.execPath, python, runs, scratch, source}
  try {
    const dbBytes = fs.statSync(source.db).size
    const walBytes = fs.statSync(source.wal).size
    log(`Fixture: ${mb(dbBytes)} db + ${mb(walBytes)} WAL; ${runs} runs each; scratch ${scratch}`)
    const rows: Row[] = []
    if (values.only === undefined) {
      const archive = path.join(scratch, 'kept.tar.gz')
      const backup = benchBackup(ctx, archive)
      const listDir = listingDir(ctx, archive)
      rows.push(
        ...backup.rows,
        ...benchRestore(ctx, archive, backup.report),
        ...benchListing(ctx, listDir),
        ...benchVerify(ctx, archive, listDir),
      )
    }

    if (values.only === undefined || values.only === 'encryption')
      rows.push(...benchEncryption(ctx, await benchKey(scratch)))
    const remote: RemoteBenchContext = {
      node: ctx.node,
      runJs: RUN_JS,
      runs,
      scratch,
      freshDataDir: (name) => freshDataDir(scratch, source, name),
      measure: (command, args, env) => measure(scratch, command, args, env),
      log,
    }
    if (values.only === undefined || values.only === 'object-storage') {
      const archive = path.join(scratch, 'remote-source.tar.gz')
      if (!fs.existsSync(archive))
        measure(scratch, ctx.node, [RUN_JS, 'library:backup', '--output', archive, '--json'], {
          ...process.env,
          VPO_DATA_DIR: freshDataDir(scratch, source, 'remote-seed'),
        })
      rows.push(...objectStorageRows(await benchObjectStorage(remote, archive, LISTING_ARCHIVES)))
    }

    if (values.only === undefined || values.only === 'startup') rows.push(...startupRows(benchStartup(remote)))
    const scale: ScaleContext = {...remote, scratch}
    if (values.only === undefined || values.only === 'syscalls') rows.push(...benchSyscalls(scale))
    if (values.only === 'large') {
      const large = fixture(LARGE_FIXTURE)
      rows.push(...benchLarge(scale, () => freshDataDir(scratch, large, 'scale-large'), runs))
    }

    const cpus = os.cpus()
    console.log('')
    console.log('Machine')
    console.log(
      `  node ${process.version} (${process.platform}/${process.arch}), ${os.availableParallelism()} CPUs${cpus[0] ? ` (${cpus[0].model.trim()})` : ''}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM`,
    )
    console.log(`  python ${pyVersion} (SQLite ${pySqlite}) at ${python}`)
    console.log(
      `  peak RSS: ${HAVE_GNU_TIME ? 'GNU /usr/bin/time -f %M (max over runs)' : 'n/a (GNU /usr/bin/time not found)'}`,
    )
    console.log(
      `  fixture: ${FIXTURE.files.toLocaleString('en-US')} + ${FIXTURE.walFiles} WAL files, ${mb(dbBytes)} db + ${mb(walBytes)} WAL; scratch in ${os.tmpdir()}`,
    )
    console.log(
      `  times: median wall seconds of ${runs} whole-process runs each, after one unrecorded run of each; ours and baseline alternated`,
    )
    console.log('')
    printTable(rows)
    const misses = rows.filter((r) => r.result === 'MISS').length
    console.log('')
    console.log(misses === 0 ? 'All targets met.' : `${misses} target(s) missed.`)
  } finally {
    fs.rmSync(scratch, {recursive: true, force: true})
  }
}

try {
  await main()
} catch (error) {
  console.error(error instanceof BenchError ? `bench: ${error.message}` : error)
  process.exit(1)
}
