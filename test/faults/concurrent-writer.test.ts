/**
 * A writer committing continuously while backups run (a library scan in progress): each archive
 * holds one consistent state. file_count and total_library_size_bytes in the metadata equal what
 * the archived database holds, and the writer's own invariants hold inside it (every transaction
 * adds one file with two tracks, deletes one old file with its tracks, and counts itself in _meta).
 */
import {expect} from 'chai'
import {spawn} from 'node:child_process'

import {cleanupTempDirs, makeDataDir, parseJson, python, runCli, validateArchiveWithPython} from '../helpers/cli.js'

const BACKUPS = 5

const WRITER = `
import sqlite3, sys, signal
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
conn.execute('PRAGMA journal_mode=WAL')
conn.execute("INSERT OR REPLACE INTO _meta (key, value) VALUES ('writer_commits', '0')")
next_id = conn.execute('SELECT MAX(id) + 1 FROM files').fetchone()[0]
n = 0
while True:
    conn.execute('BEGIN IMMEDIATE')
    d = '/media/library/Incoming/Batch %d' % (n // 50)
    f = 'Writer file %d.mkv' % n
    conn.execute("INSERT INTO files (id, path, filename, directory, extension, size_bytes, modified_at, scanned_at) VALUES (?, ?, ?, ?, 'mkv', ?, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')", (next_id, d + '/' + f, f, d, 1000000 + n))
    conn.execute("INSERT INTO tracks (file_id, track_index, track_type, codec) VALUES (?, 0, 'video', 'hevc')", (next_id,))
    conn.execute("INSERT INTO tracks (file_id, track_index, track_type, codec, language) VALUES (?, 1, 'audio', 'aac', 'eng')", (next_id,))
    old = conn.execute("SELECT MIN(id) FROM files WHERE path NOT LIKE '/media/library/Incoming/%'").fetchone()[0]
    conn.execute('DELETE FROM tracks WHERE file_id = ?', (old,))
    conn.execute('DELETE FROM files WHERE id = ?', (old,))
    conn.execute("UPDATE files SET size_bytes = size_bytes + 1 WHERE id = (SELECT MAX(id) FROM files WHERE id < ?)", (next_id,))
    n += 1
    next_id += 1
    conn.execute("UPDATE _meta SET value = ? WHERE key = 'writer_commits'", (str(n),))
    conn.execute('COMMIT')
    if n == 20:
        sys.stdout.write('ready\\n'); sys.stdout.flush()
`

/** Reads the invariants the writer keeps from the database inside an archive. */
function archivedInvariants(archive: string): {commits: number; orphanTracks: number; writerFiles: number} {
  const code = `
import json, sqlite3, sys, tarfile, tempfile, os, shutil
with tarfile.open(sys.argv[1], 'r:gz') as tf:
    fd, tmp = tempfile.mkstemp(suffix='.db')
    with os.fdopen(fd, 'wb') as out: shutil.copyfileobj(tf.extractfile('library.db'), out)
db = sqlite3.connect(tmp)
commits = int(db.execute("SELECT value FROM _meta WHERE key = 'writer_commits'").fetchone()[0])
writer_files = db.execute("SELECT COUNT(*) FROM files WHERE path LIKE '/media/library/Incoming/%'").fetchone()[0]
orphans = db.execute('SELECT COUNT(*) FROM tracks WHERE file_id NOT IN (SELECT id FROM files)').fetchone()[0]
db.close(); os.remove(tmp)
print(json.dumps(dict(commits=commits, writerFiles=writer_files, orphanTracks=orphans)))
`
  const result = python(code, [archive])
  if (result.status !== 0) throw new Error(result.stderr)
  return JSON.parse(result.stdout) as {commits: number; orphanTracks: number; writerFiles: number}
}

function commitsSoFar(databasePath: string): number {
  const result = python(
    `import sqlite3, sys\nprint(sqlite3.connect('file:' + sys.argv[1] + '?mode=ro', uri=True, timeout=30).execute("SELECT value FROM _meta WHERE key = 'writer_commits'").fetchone()[0])`,
    [databasePath],
  )
  return Number(result.stdout.trim())
}

describe('faults: a writer committing during backups', function () {
  this.timeout(180_000)

  after(() => cleanupTempDirs())

  it(`each of ${BACKUPS} archives holds one consistent state`, async () => {
    const lib = makeDataDir({files: 8000, walFiles: 50, seed: 61})
    const writer = spawn('python3', ['-c', WRITER, lib.databasePath], {stdio: ['ignore', 'pipe', 'pipe']})
    let writerErr = ''
    writer.stderr.on('data', (chunk) => (writerErr += chunk))
    const exited = new Promise((resolve) => writer.on('exit', resolve))
    try {
      await new Promise<void>((resolve, reject) => {
        writer.stdout.on('data', (chunk) => String(chunk).includes('ready') && resolve())
        writer.on('exit', (code) => reject(new Error(`writer exited ${code}: ${writerErr}`)))
      })

      for (let i = 0; i < BACKUPS; i++) {
        const before = commitsSoFar(lib.databasePath)
        const run = await runCli(['library:backup', '--json'], {env: lib.env})
        const after = commitsSoFar(lib.databasePath)
        expect(run.code, run.stdout + run.stderr).to.equal(0)
        expect(after, 'the writer kept committing during the backup').to.be.greaterThan(before)

        const result = parseJson(run)
        const check = validateArchiveWithPython(String(result.path))
        expect(check.ok, check.reason).to.equal(true)
        expect(check.metadata!.file_count, 'file_count equals the rows in the archived database').to.equal(check.rows)
        expect(check.metadata!.total_library_size_bytes, 'total size equals the archived sum').to.equal(check.totalSize)
        const invariants = archivedInvariants(String(result.path))
        expect(invariants.writerFiles, 'one file per writer commit').to.equal(invariants.commits)
        expect(invariants.orphanTracks, 'no torn transaction').to.equal(0)
        expect(invariants.commits).to.be.within(before, after)
        console.log(`      backup ${i + 1}: snapshot at writer commit ${invariants.commits} (writer went from ${before} to ${after} during the run), ${check.rows} files`)
      }
    } finally {
      writer.kill('SIGTERM')
      await exited
    }
  })
})
