/**
 * A writer committing continuously while backups run (a library scan in progress): each archive
 * holds one consistent state. file_count and total_library_size_bytes in the metadata equal what
 * the archived database holds, and the writer's own invariants hold inside it (every transaction
 * adds one file with two tracks, deletes one old file with its tracks, and counts itself in _meta).
 */
import {expect} from 'chai'

import {parseJson, runCli} from '../helpers/cli.js'
import {makeDataDir} from '../helpers/libraries.js'
import {startLibraryWriter} from '../helpers/processes.js'
import {validateArchiveWithPython} from '../helpers/python-archives.js'
import {python} from '../helpers/python.js'
import {cleanupTempDirs} from '../helpers/temp-dirs.js'

const BACKUPS = 5

/** The invariants the writer keeps, read from the database inside an archive (with Python's sqlite3). */
const INVARIANTS = {
  commits: "SELECT value FROM _meta WHERE key = 'writer_commits'",
  writerFiles: "SELECT COUNT(*) FROM files WHERE path LIKE '/media/library/Incoming/%'",
  orphanTracks: 'SELECT COUNT(*) FROM tracks WHERE file_id NOT IN (SELECT id FROM files)',
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
    const writer = await startLibraryWriter(lib.databasePath, {churn: true})
    try {
      for (let i = 0; i < BACKUPS; i++) {
        const before = commitsSoFar(lib.databasePath)
        const run = await runCli(['library:backup', '--json'], {env: lib.env})
        const after = commitsSoFar(lib.databasePath)
        expect(run.code, run.stdout + run.stderr).to.equal(0)
        expect(after, 'the writer kept committing during the backup').to.be.greaterThan(before)

        const result = parseJson(run)
        const check = validateArchiveWithPython(String(result.path), INVARIANTS)
        expect(check.ok, check.reason).to.equal(true)
        expect(check.metadata!.file_count, 'file_count equals the rows in the archived database').to.equal(check.rows)
        expect(check.metadata!.total_library_size_bytes, 'total size equals the archived sum').to.equal(check.totalSize)
        const invariants = {
          commits: Number(check.sql!.commits),
          writerFiles: Number(check.sql!.writerFiles),
          orphanTracks: Number(check.sql!.orphanTracks),
        }
        expect(invariants.writerFiles, 'one file per writer commit').to.equal(invariants.commits)
        expect(invariants.orphanTracks, 'no torn transaction').to.equal(0)
        expect(invariants.commits).to.be.within(before, after)
        console.log(
          `      backup ${i + 1}: snapshot at writer commit ${invariants.commits} (writer went from ${before} to ${after} during the run), ${check.rows} files`,
        )
      }
    } finally {
      await writer.stop()
    }
  })
})
