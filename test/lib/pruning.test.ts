/**
 * Pruning (--keep N), on a directory of empty files named like backups: which regular backups go,
 * and what is never touched (pre-restore snapshots, foreign files). The policy itself is in retention.test.ts.
 */
import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'

import {pruneBackups} from '../../src/lib/prune.js'
import {LocalDirectory} from '../../src/lib/storage/local-directory.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

/** A directory holding a file of each name (its content is its name). */
function dirWith(names: string[]): string {
  const dir = makeTempDir('vpo-prune')
  for (const name of names) fs.writeFileSync(path.join(dir, name), name)
  return dir
}

describe('pruneBackups', () => {
  after(() => cleanupTempDirs())

  it('keeps the N newest regular backups by the time in their names (the -2 of a second newer than its plain name)', async () => {
    const names = [
      'vpo-library-2026-02-05T143022Z.tar.gz',
      'vpo-library-2026-02-05T143022Z-2.tar.gz',
      'vpo-library-2025-12-31T235959Z.tar.gz',
      'vpo-library-2024-01-01T00-00-00Z.tar.gz',
      'vpo-library-2023-01-01T000000Z-pre-restore.tar.gz',
      'vpo-library-2026-02-05T143022Z.tar.gz.bak',
      'vpo-library-mine.tar.gz',
      'README.md',
    ]
    const dir = dirWith(names)
    const {removed: pruned} = await pruneBackups(new LocalDirectory(dir), {last: 2})
    expect(pruned.sort()).to.deep.equal(
      [
        path.join(dir, 'vpo-library-2025-12-31T235959Z.tar.gz'),
        path.join(dir, 'vpo-library-2024-01-01T00-00-00Z.tar.gz'),
      ].sort(),
    )
    expect(fs.readdirSync(dir).sort()).to.deep.equal(
      [
        'vpo-library-2026-02-05T143022Z.tar.gz',
        'vpo-library-2026-02-05T143022Z-2.tar.gz',
        'vpo-library-2023-01-01T000000Z-pre-restore.tar.gz',
        'vpo-library-2026-02-05T143022Z.tar.gz.bak',
        'vpo-library-mine.tar.gz',
        'README.md',
      ].sort(),
    )
  })
})
