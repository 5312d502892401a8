/**
 * Inputs the hardening suites need that the other helpers do not make: a library only
 * quick_check finds damaged, backups planted under chosen names and times, archives cut or grown
 * at their gzip member boundaries, and exact integers read from raw JSON text.
 */
import fs from 'node:fs'
import path from 'node:path'

import {type CliResult} from './cli.js'
import {extractArchiveMember, readArchiveWithPython, writePythonArchive} from './python-archives.js'
import {python} from './python.js'
import {makeTempDir} from './temp-dirs.js'

/**
 * Damages one page of the idx_tracks_language index (checkpointed first, so the damage is in the
 * file): quick_check fails, but the `files` table, which that index is not part of, still reads.
 */
export function damageAnIndex(databasePath: string): void {
  const code = `
import sqlite3, sys
p = sys.argv[1]
db = sqlite3.connect(p)
db.execute('PRAGMA wal_checkpoint(TRUNCATE)')
root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'idx_tracks_language'").fetchone()[0]
size = db.execute('PRAGMA page_size').fetchone()[0]
db.close()
with open(p, 'r+b') as f:
    # The cell content at the end of the page: keys the index's order no longer holds.
    f.seek(root * size - 600)
    f.write(bytes(range(1, 201)) * 3)
db = sqlite3.connect(p)
qc = db.execute('PRAGMA quick_check').fetchone()[0]
n = db.execute('SELECT count(*) FROM files').fetchone()[0]
db.close()
print(qc if qc != 'ok' else 'STILL OK'); print(n)
`
  const out = python(code, [databasePath])
  if (out.status !== 0) throw new Error(`damaging ${databasePath} failed: ${out.stderr}`)
  const [qc] = out.stdout.trim().split('\n')
  if (qc === 'STILL OK') throw new Error('the damage did not make quick_check fail')
}

/** The checkpointed database inside a real archive, to plant other archives from. */
export function databaseOf(archive: string): string {
  const file = path.join(makeTempDir('vpo-db'), 'library.db')
  extractArchiveMember(archive, 'library.db', file)
  return file
}

/**
 * Writes `dir/name` as VPO's Python tool would, with the metadata of `template` but `created_at`
 * taken from the backup name, so the name and the metadata agree on when it was made.
 */
export function plantBackup(
  template: string,
  dir: string,
  name: string,
  overrides: Record<string, unknown> = {},
): string {
  const stamp = /(\d{4}-\d{2}-\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(name)
  if (!stamp) throw new Error(`${name} carries no backup timestamp`)
  const createdAt = `${stamp[1]}T${stamp[2]}:${stamp[3]}:${stamp[4]}Z`
  const metadata = {...readArchiveWithPython(template).metadata, created_at: createdAt, ...overrides}
  const out = path.join(dir, name)
  fs.mkdirSync(dir, {recursive: true})
  writePythonArchive(databaseOf(template), out, metadata)
  return out
}

/** The start offset of each gzip member of `file`, found with Python's zlib. */
export function gzipMemberOffsets(file: string): number[] {
  const code = `
import json, sys, zlib
data = open(sys.argv[1], 'rb').read(); pos = 0; offs = []
while pos < len(data):
    offs.append(pos)
    d = zlib.decompressobj(31); d.decompress(data[pos:])
    if not d.eof: break
    pos = len(data) - len(d.unused_data)
print(json.dumps(offs))
`
  const out = python(code, [file])
  if (out.status !== 0) throw new Error(`reading gzip members of ${file} failed: ${out.stderr}`)
  return JSON.parse(out.stdout) as number[]
}

/** The raw text of `"field": <integer>` in a JSON document, so no float ever rounds it. */
export function rawJsonInteger(text: string, field: string): string {
  const match = new RegExp(`"${field}"\\s*:\\s*(-?\\d+)`).exec(text)
  if (!match) throw new Error(`no integer field ${field} in:\n${text}`)
  return match[1]
}

/** The JSON text of an archive's metadata member, read with Python and re-serialised exactly. */
export function pythonMetadataInteger(archive: string, field: string): string {
  const code = `
import json, sys, tarfile
with tarfile.open(sys.argv[1], 'r:gz') as tf:
    print(json.loads(tf.extractfile('backup_metadata.json').read())[sys.argv[2]])
`
  const out = python(code, [archive, field])
  if (out.status !== 0) throw new Error(`python could not read ${field} of ${archive}: ${out.stderr}`)
  return out.stdout.trim()
}

/** Sets size_bytes of the first `values.length` files (by id) to exact integers, with Python. */
export function setSizes(databasePath: string, values: bigint[]): void {
  const code = `
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
ids = [r[0] for r in db.execute('SELECT id FROM files ORDER BY id LIMIT ?', (len(sys.argv) - 2,))]
for i, v in zip(ids, sys.argv[2:]): db.execute('UPDATE files SET size_bytes = ? WHERE id = ?', (int(v), i))
db.commit(); db.close()
`
  const out = python(code, [databasePath, ...values.map(String)])
  if (out.status !== 0) throw new Error(`setting sizes failed: ${out.stderr}`)
}

/** Exact SUM(size_bytes) of a library, from Python (arbitrary precision). */
export function exactTotal(databasePath: string): string {
  const code = `
import sqlite3, sys
db = sqlite3.connect('file:%s?mode=ro' % sys.argv[1], uri=True)
print(sum(r[0] for r in db.execute('SELECT size_bytes FROM files')))
`
  const out = python(code, [databasePath])
  if (out.status !== 0) throw new Error(`summing failed: ${out.stderr}`)
  return out.stdout.trim()
}

/** What a terminal would receive that could act on it: raw C0/C1 controls other than line ends. */
export function rawControls(result: CliResult): string[] {
  // eslint-disable-next-line no-control-regex
  return [...(result.stdout + result.stderr).matchAll(/[\u0000-\u0009\u000B-\u001F\u007F-\u009F]/g)].map((m) =>
    JSON.stringify(m[0]),
  )
}

/**
 * Watches, from inside the CLI, when a command starts a snapshot (snapshotLibrary creates the
 * file before SQLite fills it), without changing what it does: to prove a check ran before the
 * long work. Returns the env to pass and a reader of the snapshot paths seen.
 */
export function watchSnapshots(): {env: NodeJS.ProcessEnv; started: () => string[]} {
  const dir = makeTempDir('vpo-watch')
  fs.chmodSync(dir, 0o777) // the CLI may run as another user
  const log = path.join(dir, 'snapshots.log')
  const hook = path.join(dir, 'hook.mjs')
  fs.writeFileSync(
    hook,
    `import fs from 'node:fs'
const write = fs.writeFileSync
fs.writeFileSync = function (file, ...rest) {
  if (typeof file === 'string' && file.endsWith('.snapshot.db')) fs.appendFileSync(${JSON.stringify(log)}, file + '\\n')
  return write.call(this, file, ...rest)
}
`,
  )
  fs.chmodSync(hook, 0o644)
  return {
    env: {NODE_OPTIONS: `--import ${hook}`},
    started: () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) : []),
  }
}
