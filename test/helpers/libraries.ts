/**
 * VPO data directories holding real libraries (from the fixture generator), and ways to compare
 * a library or a whole directory tree before and after a command.
 */
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {createLibrary, type LibraryOptions, type LibrarySummary} from '../fixtures/library-generator.js'
import {parseJson, runCli} from './cli.js'
import {python} from './python.js'
import {makeTempDir} from './temp-dirs.js'

export interface DataDir {
  dataDir: string
  databasePath: string
  backupDir: string
  env: NodeJS.ProcessEnv
  summary: LibrarySummary
}

/** The record for a VPO data directory at `dataDir`, whose library may not exist yet. */
export function dataDirAt(dataDir: string, summary: LibrarySummary): DataDir {
  return {
    dataDir,
    databasePath: path.join(dataDir, 'library.db'),
    backupDir: path.join(dataDir, 'backups'),
    env: {VPO_DATA_DIR: dataDir},
    summary,
  }
}

/** A VPO data directory holding a realistic library (WAL commits included by default). */
export function makeDataDir(options: Partial<LibraryOptions> = {}, parent?: string): DataDir {
  const dataDir = path.join(parent ?? makeTempDir('vpo-data'), 'vpo')
  const summary = createLibrary(path.join(dataDir, 'library.db'), {files: 1500, walFiles: 25, ...options})
  return dataDirAt(dataDir, summary)
}

/** A bare library file (no data directory around it), for the service layer's own tests. */
export function makeLibraryFile(options: Partial<LibraryOptions> = {}): string {
  const databasePath = path.join(makeTempDir('vpo-lib'), 'library.db')
  createLibrary(databasePath, {files: 1500, walFiles: 25, ...options})
  return databasePath
}

/** Copies a data directory's library (database and WAL, no -shm) into a fresh data directory. */
export function cloneLibrary(from: DataDir, parent?: string): DataDir {
  const clone = dataDirAt(path.join(parent ?? makeTempDir('vpo-data'), 'vpo'), from.summary)
  fs.mkdirSync(clone.dataDir, {recursive: true})
  fs.copyFileSync(from.databasePath, clone.databasePath)
  if (fs.existsSync(`${from.databasePath}-wal`))
    fs.copyFileSync(`${from.databasePath}-wal`, `${clone.databasePath}-wal`)
  return clone
}

/** Backs `library` up with the real CLI into a fresh directory: the archive tests restore from. */
export async function archiveOf(library: DataDir): Promise<{path: string; sha256: string}> {
  const made = await runCli(['library:backup', '--json', '--output', makeTempDir('vpo-archive')], {env: library.env})
  if (made.code !== 0) throw new Error(`backup of the test library failed (exit ${made.code}): ${made.stderr}`)
  const result = parseJson(made)
  return {path: String(result.path), sha256: String(result.database_sha256)}
}

/**
 * The logical content of a library (every row of every table, WAL commits included) and its
 * integrity_check, read with Python's sqlite3 from a private copy so the files themselves are not touched.
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
    if (result.status !== 0)
      return {digest: `unreadable: ${result.stderr.trim().split('\n').pop()}`, integrity: 'unreadable', rows: -1}
    return JSON.parse(result.stdout) as {digest: string; integrity: string; rows: number}
  } finally {
    fs.rmSync(scratch, {recursive: true, force: true})
  }
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
