/**
 * Test harness: real child processes running bin/run.js against real files in private temporary
 * directories. Nothing here mocks the filesystem, SQLite or tar.
 */
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
  if (options.input !== undefined) child.stdin?.end(options.input)
  else child.stdin?.end()
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
