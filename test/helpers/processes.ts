/**
 * Other processes a test runs beside the CLI: a writer committing to the library (a scan in
 * progress) and a holder of the library lock (the VPO daemon).
 */
import {type ChildProcess, spawn} from 'node:child_process'

import {ROOT} from './cli.js'

/** A child process started by a test, with a way to stop it and wait for its exit. */
export interface ChildHandle {
  pid: number
  /** SIGTERM (unless it already ended), then wait for the exit. */
  stop(): Promise<void>
}

/** Resolves when the child prints `marker` on stdout; rejects if it exits first or takes too long. */
function waitForLine(child: ChildProcess, marker: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = ''
    let err = ''
    const timer = setTimeout(
      () => reject(new Error(`child did not print "${marker}" in ${timeoutMs} ms; stderr: ${err}`)),
      timeoutMs,
    )
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

function handleFor(child: ChildProcess): ChildHandle {
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

const WRITER = `
import sqlite3, sys, signal
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
db, warmup, churn = sys.argv[1], int(sys.argv[2]), sys.argv[3] == 'churn'
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
    if churn:
        old = conn.execute("SELECT MIN(id) FROM files WHERE path NOT LIKE '/media/library/Incoming/%'").fetchone()[0]
        conn.execute('DELETE FROM tracks WHERE file_id = ?', (old,))
        conn.execute('DELETE FROM files WHERE id = ?', (old,))
        conn.execute("UPDATE files SET size_bytes = size_bytes + 1 WHERE id = (SELECT MAX(id) FROM files WHERE id < ?)", (next_id,))
    n += 1
    next_id += 1
    conn.execute("UPDATE _meta SET value = ? WHERE key = 'writer_commits'", (str(n),))
    conn.execute('COMMIT')
    if n == warmup:
        sys.stdout.write('ready\\n'); sys.stdout.flush()
`

/**
 * A Python process committing continuously to the library, as a scanner would: each transaction
 * adds one file (under /media/library/Incoming/) with two tracks and bumps `_meta.writer_commits`,
 * so in any consistent snapshot the writer's files number exactly writer_commits. With `churn`,
 * each transaction also deletes the oldest other file with its tracks and changes one size, so
 * the file count stays put. Resolves once `warmup` transactions are committed.
 */
export async function startLibraryWriter(
  databasePath: string,
  options: {churn?: boolean; warmup?: number} = {},
): Promise<ChildHandle> {
  const args = [databasePath, String(options.warmup ?? 20), options.churn ? 'churn' : 'grow']
  const child = spawn('python3', ['-c', WRITER, ...args], {stdio: ['ignore', 'pipe', 'pipe']})
  const handle = handleFor(child)
  await waitForLine(child, 'ready', 20_000)
  return handle
}

/** A process holding the library lock, as the VPO daemon does. */
export interface LockHolder {
  pid: number
  /** Releases the lock, then the holder exits. */
  release(): Promise<void>
  /** kill -9: the lock directory stays behind, as after a crash. */
  kill(): Promise<void>
}

const LOCK_HOLDER = `
const lockfile = require('proper-lockfile')
lockfile.lock(process.argv[1], {realpath: false}).then((release) => {
  process.stdout.write('locked\\n')
  process.stdin.on('data', () => {})
  process.stdin.on('end', () => release().then(() => process.exit(0)))
}, (error) => { process.stderr.write(String(error)); process.exit(1) })
`

/**
 * Another process holding the library lock: a child node process takes a proper-lockfile lock on
 * the database path (`realpath: false`) and keeps it until released or killed.
 */
export async function holdLibraryLock(databasePath: string): Promise<LockHolder> {
  const child = spawn(process.execPath, ['-e', LOCK_HOLDER, databasePath], {cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe']})
  const exited = new Promise((resolve) => {
    child.on('exit', resolve)
  })
  await waitForLine(child, 'locked', 20_000)
  const running = () => child.exitCode === null && child.signalCode === null
  return {
    pid: child.pid!,
    async release() {
      if (!running()) return
      child.stdin.end()
      await exited
    },
    async kill() {
      if (running()) child.kill('SIGKILL')
      await exited
    },
  }
}
