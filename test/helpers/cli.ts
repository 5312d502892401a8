/**
 * Test harness: real child processes running bin/run.js against real files in private temporary
 * directories. Nothing here mocks the filesystem, SQLite or tar.
 */
import {expect} from 'chai'
import {spawn, spawnSync} from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {createLibrary, type LibraryOptions, type LibrarySummary} from '../fixtures/library-generator.js'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
export const RUN = path.join(ROOT, 'bin', 'run.js')

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv
  /** Written to stdin, which is then closed (stdin is never a terminal here). */
  input?: string
  cwd?: string
  timeoutMs?: number
}

/** Runs `bin/run.js ARGS` to completion. */
export async function runCli(args: string[], options: RunOptions = {}): Promise<CliResult> {
  const child = startCli(args, options)
  if (options.input === undefined) {child.stdin?.end()}
  else {child.stdin?.end(options.input)}

  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (chunk) => (stdout += chunk))
  child.stderr?.on('data', (chunk) => (stderr += chunk))
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000)
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.on('close', (c, s) => resolve([c, s])),
  )
  clearTimeout(timer)
  return {code, signal, stdout, stderr}
}

/** Starts `bin/run.js ARGS` without waiting (to signal or kill it mid-run). */
export function startCli(args: string[], options: RunOptions = {}) {
  return spawn(process.execPath, [RUN, ...args], {
    cwd: options.cwd ?? ROOT,
    env: {...cleanEnv(), ...options.env},
    stdio: ['pipe', 'pipe', 'pipe'],
  })
}

/** The parent's environment without anything that would change the plugin's behaviour. */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env = {...process.env}
  delete env.VPO_DATA_DIR
  delete env.DEBUG
  env.NO_COLOR = '1'
  return env
}

/** Parses the single JSON document a `--json` run prints on stdout. */
export function parseJson(result: CliResult): Record<string, unknown> {
  try {
    return JSON.parse(result.stdout) as Record<string, unknown>
  } catch {
    throw new Error(`stdout is not one JSON document:\n${result.stdout}\nstderr:\n${result.stderr}`)
  }
}

/** A fresh directory under the OS temp dir, removed by `cleanupTempDirs()`. */
const made: string[] = []
export function makeTempDir(label = 'vpo-test'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${label}-`))
  made.push(dir)
  return dir
}

export function cleanupTempDirs(): void {
  while (made.length > 0) fs.rmSync(made.pop()!, {recursive: true, force: true})
}

export interface DataDir {
  dataDir: string
  databasePath: string
  backupDir: string
  env: NodeJS.ProcessEnv
  summary: LibrarySummary
}

/** A VPO data directory holding a realistic library (WAL commits included by default). */
export function makeDataDir(options: Partial<LibraryOptions> = {}, parent?: string): DataDir {
  const dataDir = path.join(parent ?? makeTempDir('vpo-data'), 'vpo')
  const databasePath = path.join(dataDir, 'library.db')
  const summary = createLibrary(databasePath, {files: 1500, walFiles: 25, ...options})
  return {dataDir, databasePath, backupDir: path.join(dataDir, 'backups'), env: {VPO_DATA_DIR: dataDir}, summary}
}

export function sha256File(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex')
}

/**
 * Every file under `dir` with its size and checksum (directories too), to prove that a failed
 * command left the disk exactly as it found it.
 */
export function treeState(dir: string): Record<string, string> {
  const state: Record<string, string> = {}
  const walk = (current: string) => {
    for (const entry of fs.readdirSync(current, {withFileTypes: true})) {
      const full = path.join(current, entry.name)
      const rel = path.relative(dir, full)
      if (entry.isDirectory()) {
        state[rel + '/'] = 'dir'
        walk(full)
      } else if (entry.isFile()) {
        state[rel] = sha256File(full)
      } else {
        state[rel] = 'other'
      }
    }
  }

  if (fs.existsSync(dir)) walk(dir)
  return state
}

/** Lists the members of an archive with GNU tar, as a user would: name, mode, size. */
export function gnuTarList(archive: string): Array<{mode: string; name: string; size: number}> {
  const out = spawnSync('tar', ['-tvzf', archive], {encoding: 'utf8'})
  if (out.status !== 0) throw new Error(`tar -tvzf failed: ${out.stderr}`)
  return out.stdout
    .trim()
    .split('\n')
    .map((line) => {
      const parts = line.split(/\s+/)
      return {mode: parts[0], size: Number(parts[2]), name: parts.slice(5).join(' ')}
    })
}

/** Runs a Python snippet (python3 is on every machine here; VPO's own tool is Python). */
export function python(code: string, args: string[] = []): {status: number | null; stderr: string; stdout: string} {
  const out = spawnSync('python3', ['-c', code, ...args], {encoding: 'utf8'})
  return {status: out.status, stdout: out.stdout, stderr: out.stderr}
}

/** Writes an archive the way VPO's Python tool does: tarfile "w:gz", library.db first, no checksum. */
export function writePythonArchive(databasePath: string, archivePath: string, metadata: Record<string, unknown>): void {
  const code = `
import json, sqlite3, sys, tarfile, io, os
db, out, meta = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
with tarfile.open(out, 'w:gz') as tf:
    tf.add(db, arcname='library.db')
    data = json.dumps(meta, indent=2).encode()
    info = tarfile.TarInfo('backup_metadata.json'); info.size = len(data); info.mode = 0o600
    tf.addfile(info, io.BytesIO(data))
`
  const result = python(code, [databasePath, archivePath, JSON.stringify(metadata)])
  if (result.status !== 0) throw new Error(`python archive writer failed: ${result.stderr}`)
}

/** True when this process may mount filesystems (tmpfs tests need root). */
export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0
}

// ---------------------------------------------------------------------------------------------
// Helpers added for the library:backup and library:backups suites.

/** A child process started by a test, with a way to stop it and wait for its exit. */
export interface ChildHandle {
  pid: number
  stop(): Promise<void>
}

function waitForLine(child: ReturnType<typeof spawn>, marker: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = ''
    let err = ''
    const timer = setTimeout(() => reject(new Error(`child did not print "${marker}" in ${timeoutMs} ms; stderr: ${err}`)), timeoutMs)
    child.stdout?.on('data', (chunk) => {
      out += chunk
      if (out.includes(marker)) {
        clearTimeout(timer)
        resolve()
      }
    })
    child.stderr?.on('data', (chunk) => {
      err += chunk
    })
    child.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`child exited (${code}) before printing "${marker}"; stderr: ${err}`))
    })
  })
}

function handleFor(child: ReturnType<typeof spawn>): ChildHandle {
  const exited = new Promise<void>((resolve) => {
    child.on('exit', () => resolve())
  })
  return {
    pid: child.pid!,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await exited
    },
  }
}

/**
 * A Python process committing continuously to the library, as a scanner would: each transaction
 * adds one file with two tracks and bumps `_meta.writer_commits`, so in any consistent snapshot
 * `files` holds exactly (files before the writer started) + writer_commits rows. Resolves once
 * `warmup` transactions are committed.
 */
export async function startLibraryWriter(databasePath: string, warmup = 20): Promise<ChildHandle> {
  const code = `
import sqlite3, sys, signal
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
db, warmup = sys.argv[1], int(sys.argv[2])
conn = sqlite3.connect(db, isolation_level=None, timeout=30)
conn.execute("INSERT OR REPLACE INTO _meta (key, value) VALUES ('writer_commits', '0')")
next_id = conn.execute('SELECT COALESCE(MAX(id), 0) + 1 FROM files').fetchone()[0]
n = 0
while True:
    conn.execute('BEGIN IMMEDIATE')
    d = '/media/library/Incoming/Batch %d' % (n // 50)
    f = 'Writer file %d.mkv' % n
    conn.execute("INSERT INTO files (id, path, filename, directory, extension, size_bytes, modified_at, scanned_at) VALUES (?, ?, ?, ?, 'mkv', ?, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')", (next_id, d + '/' + f, f, d, 1000000 + n))
    conn.execute("INSERT INTO tracks (file_id, track_index, track_type, codec) VALUES (?, 0, 'video', 'hevc')", (next_id,))
    conn.execute("INSERT INTO tracks (file_id, track_index, track_type, codec, language) VALUES (?, 1, 'audio', 'aac', 'eng')", (next_id,))
    n += 1
    next_id += 1
    conn.execute("UPDATE _meta SET value = ? WHERE key = 'writer_commits'", (str(n),))
    conn.execute('COMMIT')
    if n == warmup:
        sys.stdout.write('ready\\n'); sys.stdout.flush()
`
  const child = spawn('python3', ['-c', code, databasePath, String(warmup)], {stdio: ['ignore', 'pipe', 'pipe']})
  const handle = handleFor(child)
  await waitForLine(child, 'ready', 20_000)
  return handle
}

export interface PythonArchiveView {
  members: Array<{name: string; type: string; mode: number; size: number}>
  metadata: Record<string, unknown>
  databaseSha256: string
  databaseSize: number
}

/** Opens an archive with Python's tarfile, as VPO's own tool reads it. */
export function readArchiveWithPython(archive: string): PythonArchiveView {
  const code = `
import hashlib, json, sys, tarfile
members, metadata, sha, size = [], None, None, None
with tarfile.open(sys.argv[1], 'r:gz') as tf:
    for m in tf.getmembers():
        kind = 'file' if m.isreg() else 'dir' if m.isdir() else 'symlink' if m.issym() else 'link' if m.islnk() else 'other'
        members.append({'name': m.name, 'type': kind, 'mode': m.mode, 'size': m.size})
        if m.name == 'backup_metadata.json':
            metadata = json.load(tf.extractfile(m))
        elif m.name == 'library.db':
            data = tf.extractfile(m).read()
            sha, size = hashlib.sha256(data).hexdigest(), len(data)
print(json.dumps({'members': members, 'metadata': metadata, 'databaseSha256': sha, 'databaseSize': size}))
`
  const result = python(code, [archive])
  if (result.status !== 0) throw new Error(`python tarfile could not read ${archive}: ${result.stderr}`)
  return JSON.parse(result.stdout) as PythonArchiveView
}

/** Extracts an archive with GNU tar into a fresh directory and returns that directory. */
export function extractWithGnuTar(archive: string): string {
  const dir = makeTempDir('vpo-extract')
  const out = spawnSync('tar', ['-xzf', archive, '-C', dir], {encoding: 'utf8'})
  if (out.status !== 0) throw new Error(`tar -xzf failed: ${out.stderr}`)
  return dir
}

export interface PtyResult {
  code: number | null
  signal: number | null
  /** Everything the terminal showed (stdout and stderr together, with \r\n line ends). */
  output: string
  /** Whether the prompt text appeared (and, if an answer was given, was answered). */
  prompted: boolean
  timedOut: boolean
}

/**
 * Runs `bin/run.js ARGS` on a real pseudo-terminal (test/helpers/pty-run.py): stdin, stdout and
 * stderr are a TTY, as for a person at a terminal. When `prompt` appears, `answer` and Enter are typed.
 */
export function runCliOnPty(
  args: string[],
  options: {answer?: string; env?: NodeJS.ProcessEnv; prompt?: string; timeoutMs?: number} = {},
): PtyResult {
  const spec = {
    argv: [process.execPath, RUN, ...args],
    env: {...cleanEnv(), ...options.env},
    cwd: ROOT,
    prompt: options.prompt ?? '[y/N]',
    answer: options.answer,
    timeout: (options.timeoutMs ?? 30_000) / 1000,
  }
  const out = spawnSync('python3', [path.join(ROOT, 'test', 'helpers', 'pty-run.py'), JSON.stringify(spec)], {
    encoding: 'utf8',
    timeout: (options.timeoutMs ?? 30_000) + 10_000,
  })
  if (out.status !== 0) throw new Error(`pty-run.py failed: ${out.stderr}`)
  const result = JSON.parse(out.stdout) as {code: null | number; output: string; prompted: boolean; signal: null | number; timed_out: boolean}
  return {code: result.code, signal: result.signal, output: result.output, prompted: result.prompted, timedOut: result.timed_out}
}

/**
 * Another process holding the library lock, as the VPO daemon does: a child node process takes a
 * proper-lockfile lock on the database path (`realpath: false`) and keeps it until released.
 */
export async function holdLibraryLock(databasePath: string): Promise<{release(): Promise<void>}> {
  const script = `
const lockfile = require('proper-lockfile')
lockfile.lock(process.argv[1], {realpath: false}).then((release) => {
  process.stdout.write('locked\\n')
  process.stdin.on('data', () => {})
  process.stdin.on('end', () => release().then(() => process.exit(0)))
}, (error) => { process.stderr.write(String(error)); process.exit(1) })
`
  const child = spawn(process.execPath, ['-e', script, databasePath], {cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe']})
  let stderr = ''
  child.stderr.on('data', (chunk) => (stderr += chunk))
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk) => String(chunk).includes('locked') && resolve())
    child.on('exit', (code) => reject(new Error(`lock holder exited (${code}): ${stderr}`)))
  })
  return {
    async release() {
      if (child.exitCode !== null) return
      const exited = new Promise((resolve) => child.on('exit', resolve))
      child.stdin.end()
      await exited
    },
  }
}

/** Extracts one member of a .tar.gz with Python's tarfile (not with the code under test). */
export function extractArchiveMember(archive: string, member: string, destination: string): void {
  const code = `
import sys, tarfile, shutil
with tarfile.open(sys.argv[1], 'r:gz') as tf, open(sys.argv[3], 'wb') as out:
    shutil.copyfileobj(tf.extractfile(tf.getmember(sys.argv[2])), out)
`
  const result = python(code, [archive, member, destination])
  if (result.status !== 0) throw new Error(`extracting ${member} from ${archive} failed: ${result.stderr}`)
}

/** The parsed backup_metadata.json of an archive, read with Python's tarfile. */
export function archiveMetadata(archive: string): Record<string, unknown> {
  const code = `
import sys, tarfile
with tarfile.open(sys.argv[1], 'r:gz') as tf:
    sys.stdout.write(tf.extractfile('backup_metadata.json').read().decode())
`
  const result = python(code, [archive])
  if (result.status !== 0) throw new Error(`reading the metadata of ${archive} failed: ${result.stderr}`)
  return JSON.parse(result.stdout) as Record<string, unknown>
}

/** Temporary files the plugin leaves (`.vpo-backup-tmp-*`, with any SQLite sidecars) anywhere under `dir`. */
export function leftoverTempFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return []
  return (fs.readdirSync(dir, {recursive: true}) as string[]).filter((rel) => path.basename(rel).startsWith('.vpo-backup-tmp-'))
}

/** Lines of a stack trace (`    at foo (file.js:1:2)`) in a command's output. */
export function stackTraceLines(text: string): string[] {
  return text.split(/\r?\n/).filter((line) => /^\s+at\s/.test(line))
}

// ---------------------------------------------------------------------------------------------
// Fault-injection helpers (test/faults): seeded randomness, temp-file and lock inspection,
// archive validation independent of the plugin, tmpfs mounts and preloaded fault hooks.

/** mulberry32 (the fixture generator's): a failing fault trial reproduces from its printed seed. */
export {seededRandom} from '../fixtures/library-generator.js'

/** The seed for a fault suite: $FAULT_SEED when set (to reproduce a failure), else a fresh one. */
export function faultSeed(label: string): number {
  const fromEnv = Number.parseInt(process.env.FAULT_SEED ?? '', 10)
  const seed = Number.isInteger(fromEnv) ? fromEnv : crypto.randomBytes(4).readUInt32LE(0)
  console.log(`      [${label}] seed ${seed} (reproduce with FAULT_SEED=${seed})`)
  return seed
}

export const TEMP_PREFIX = '.vpo-backup-tmp-'

/** The plugin's temporary files (`.vpo-backup-tmp-<pid>-<hex>.<label>`) directly in `dir`. */
export function listTemps(dir: string): string[] {
  try {
    return fs.readdirSync(dir).filter((name) => name.startsWith(TEMP_PREFIX))
  } catch {
    return []
  }
}

/** Final-named archives (`vpo-library-*.tar.gz`) directly in `dir`. */
export function listArchives(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir)
      .filter((name) => name.startsWith('vpo-library-') && name.endsWith('.tar.gz'))
      .sort()
  } catch {
    return []
  }
}

/** The proper-lockfile lock directory a command takes on `databasePath`. */
export function lockDirOf(databasePath: string): string {
  let target = databasePath
  try {
    target = fs.realpathSync(databasePath)
  } catch {
    try {
      target = path.join(fs.realpathSync(path.dirname(databasePath)), path.basename(databasePath))
    } catch {
      // keep the path as given
    }
  }

  return `${target}.lock`
}

/** Makes a lock left by a dead process look `seconds` old: what staleness means to proper-lockfile. */
export function ageLock(databasePath: string, seconds = 20): boolean {
  const lock = lockDirOf(databasePath)
  if (!fs.existsSync(lock)) return false
  const when = new Date(Date.now() - seconds * 1000)
  fs.utimesSync(lock, when, when)
  return true
}

export async function pause(ms: number): Promise<void> {
  await new Promise((resolve) => {
    setTimeout(resolve, ms)
  })
}

/** Polls until `predicate` holds; false on timeout. */
export async function pollUntil(predicate: () => boolean, timeoutMs = 10_000, intervalMs = 2): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (predicate()) return true
    await pause(intervalMs)
  }

  return predicate()
}

/** Collects the output of a child started with startCli and waits for it to end. */
export async function finishCli(child: ReturnType<typeof startCli>, timeoutMs = 60_000): Promise<CliResult> {
  child.stdin?.end()
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (chunk) => (stdout += chunk))
  child.stderr?.on('data', (chunk) => (stderr += chunk))
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve([child.exitCode, child.signalCode as NodeJS.Signals | null])
    else child.on('close', (c, s) => resolve([c, s]))
  })
  clearTimeout(timer)
  return {code, signal, stdout, stderr}
}

export interface ArchiveCheck {
  ok: boolean
  reason?: string
  metadata?: Record<string, unknown>
  /** Rows in `files` of the archived database. */
  rows?: number
  /** Sum of files.size_bytes in the archived database. */
  totalSize?: number
  databaseSha256?: string
}

/**
 * Validates an archive independently of the plugin, with Python's tarfile and sqlite3 (what VPO's
 * own tool uses): exactly the two members, regular files, metadata fields, size, checksum,
 * integrity_check, and the statistics against the archived database.
 */
export function validateArchiveWithPython(archive: string): ArchiveCheck {
  const code = `
import hashlib, json, os, sqlite3, sys, tarfile, tempfile
archive = sys.argv[1]
def out(ok, reason=None, **kw):
    print(json.dumps(dict(ok=ok, reason=reason, **kw))); sys.exit(0)
try:
    tf = tarfile.open(archive, 'r:gz')
    members = tf.getmembers()
except Exception as e:
    out(False, 'tar: %s' % e)
names = [m.name for m in members]
if sorted(names) != ['backup_metadata.json', 'library.db']:
    out(False, 'members %r' % names)
for m in members:
    if not m.isreg(): out(False, '%s not regular' % m.name)
try:
    meta = json.loads(tf.extractfile('backup_metadata.json').read())
except Exception as e:
    out(False, 'metadata: %s' % e)
for f in ['vpo_version', 'schema_version', 'created_at', 'database_size_bytes', 'file_count', 'total_library_size_bytes', 'compression']:
    if f not in meta: out(False, 'metadata lacks %s' % f)
fd, tmp = tempfile.mkstemp(suffix='.db')
try:
    h = hashlib.sha256(); n = 0
    src = tf.extractfile('library.db')
    with os.fdopen(fd, 'wb') as dst:
        while True:
            b = src.read(1 << 20)
            if not b: break
            h.update(b); dst.write(b); n += len(b)
    if n != meta['database_size_bytes']: out(False, 'size %d != %d' % (n, meta['database_size_bytes']))
    if meta.get('database_sha256') and meta['database_sha256'] != h.hexdigest(): out(False, 'checksum mismatch')
    db = sqlite3.connect(tmp)
    ic = db.execute('PRAGMA integrity_check').fetchone()[0]
    if ic != 'ok': out(False, 'integrity_check: %s' % ic)
    rows, total = db.execute('SELECT COUNT(*), COALESCE(SUM(size_bytes), 0) FROM files').fetchone()
    db.close()
    out(True, None, metadata=meta, rows=rows, totalSize=total, databaseSha256=h.hexdigest())
except SystemExit:
    raise
except Exception as e:
    out(False, 'error: %s' % e)
finally:
    for s in ['', '-wal', '-shm', '-journal']:
        try: os.remove(tmp + s)
        except OSError: pass
`
  const result = python(code, [archive])
  if (result.status !== 0) return {ok: false, reason: `python failed: ${result.stderr}`}
  return JSON.parse(result.stdout) as ArchiveCheck
}

/**
 * The logical content of a library (every row of every table, WAL commits included) and its
 * integrity_check, read from a private copy so the files themselves are not touched.
 */
export function libraryContent(databasePath: string): {digest: string; integrity: string; rows: number} {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'vpo-content-'))
  try {
    const copy = path.join(scratch, 'copy.db')
    fs.copyFileSync(databasePath, copy)
    if (fs.existsSync(`${databasePath}-wal`)) fs.copyFileSync(`${databasePath}-wal`, `${copy}-wal`)
    const code = `
import hashlib, json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
ic = db.execute('PRAGMA integrity_check').fetchone()[0]
h = hashlib.sha256()
for line in db.iterdump(): h.update(line.encode()); h.update(b'\\n')
rows = db.execute('SELECT COUNT(*) FROM files').fetchone()[0]
print(json.dumps(dict(digest=h.hexdigest(), integrity=ic, rows=rows)))
`
    const result = python(code, [copy])
    if (result.status !== 0) return {digest: `unreadable: ${result.stderr.trim().split('\n').pop()}`, integrity: 'unreadable', rows: -1}
    return JSON.parse(result.stdout) as {digest: string; integrity: string; rows: number}
  } finally {
    fs.rmSync(scratch, {recursive: true, force: true})
  }
}

/** Copies a data directory's library (database and WAL, no -shm) into a fresh data directory. */
export function cloneLibrary(from: DataDir, parent?: string): DataDir {
  const dataDir = path.join(parent ?? makeTempDir('vpo-data'), 'vpo')
  fs.mkdirSync(dataDir, {recursive: true})
  const databasePath = path.join(dataDir, 'library.db')
  fs.copyFileSync(from.databasePath, databasePath)
  if (fs.existsSync(`${from.databasePath}-wal`)) fs.copyFileSync(`${from.databasePath}-wal`, `${databasePath}-wal`)
  return {dataDir, databasePath, backupDir: path.join(dataDir, 'backups'), env: {VPO_DATA_DIR: dataDir}, summary: from.summary}
}

/** Mounts a tmpfs of `size` (e.g. '3m', '2600k') at `dir`; false when that is not possible here. */
export function mountTmpfs(dir: string, size: string): boolean {
  if (!isRoot()) return false
  fs.mkdirSync(dir, {recursive: true})
  const out = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir], {encoding: 'utf8'})
  return out.status === 0
}

export function unmount(dir: string): void {
  spawnSync('umount', [dir], {encoding: 'utf8'})
  if (isMountPoint(dir)) spawnSync('umount', ['-l', dir], {encoding: 'utf8'})
}

export function isMountPoint(dir: string): boolean {
  try {
    return fs.statSync(dir).dev !== fs.statSync(path.dirname(dir)).dev
  } catch {
    return false
  }
}

/**
 * Writes an ES module to preload into the CLI (`NODE_OPTIONS=--import FILE`) to inject a fault
 * the real world produces but a test cannot time, e.g. a filesystem that reports more free space
 * than it has. Returns the env to pass to runCli/startCli.
 */
export function preloadHook(source: string): NodeJS.ProcessEnv {
  const dir = makeTempDir('vpo-hook')
  const file = path.join(dir, 'hook.mjs')
  fs.writeFileSync(file, source)
  return {NODE_OPTIONS: `--import ${JSON.stringify(file).slice(1, -1)}`}
}

/** Backs `library` up with the real CLI into a fresh directory: the archive tests restore from. */
export async function archiveOf(library: DataDir): Promise<{path: string; sha256: string}> {
  const made = await runCli(['library:backup', '--json', '--output', makeTempDir('vpo-archive')], {env: library.env})
  if (made.code !== 0) throw new Error(`backup of the test library failed (exit ${made.code}): ${made.stderr}`)
  const result = parseJson(made)
  return {path: String(result.path), sha256: String(result.database_sha256)}
}

/** "572.3 KB" → bytes; decimal or binary multiples, the spec only asks for readable. */
export function parseHumanSize(text: string): number {
  const match = /^([\d.]+) (B|KB|MB|GB|KiB|MiB|GiB)$/.exec(text.trim())
  if (!match) throw new Error(`not a human-readable size: ${JSON.stringify(text)}`)
  const scale: Record<string, number> = {B: 1, KB: 1e3, MB: 1e6, GB: 1e9, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3}
  return Number(match[1]) * scale[match[2]]
}

/** A human-readable size within rounding (6%) of the exact byte count. */
export function expectAboutSize(text: string, bytes: number): void {
  const shown = parseHumanSize(text)
  expect(Math.abs(shown - bytes), `${text} for ${bytes} bytes`).to.be.at.most(Math.max(bytes * 0.06, 1))
}
