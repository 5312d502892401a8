/**
 * Pruning (--keep N), on a directory of empty files named like backups: which regular backups go,
 * and what is never touched (pre-restore snapshots, foreign files, the backup just made).
 */
import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'

import {pruneBackups} from '../helpers/product.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

/** A directory holding a file of each name (its content is its name). */
function dirWith(names: string[]): string {
  const dir = makeTempDir('vpo-prune')
  for (const name of names) fs.writeFileSync(path.join(dir, name), name)
  return dir
}

describe('pruneBackups', () => {
  after(() => cleanupTempDirs())

  it('keeps the N newest regular backups by the time in their names, counting the one just made', () => {
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
    const pruned = pruneBackups(dir, 2, path.join(dir, 'vpo-library-2026-02-05T143022Z-2.tar.gz'))
    expect(pruned.sort()).to.deep.equal(
      [path.join(dir, 'vpo-library-2025-12-31T235959Z.tar.gz'), path.join(dir, 'vpo-library-2024-01-01T00-00-00Z.tar.gz')].sort(),
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

  it('never deletes the backup just made, even when its name sorts oldest', () => {
    const dir = dirWith(['vpo-library-2030-01-01T000000Z.tar.gz', 'vpo-library-2020-01-01T000000Z.tar.gz'])
    const pruned = pruneBackups(dir, 1, path.join(dir, 'vpo-library-2020-01-01T000000Z.tar.gz'))
    expect(pruned).to.deep.equal([path.join(dir, 'vpo-library-2030-01-01T000000Z.tar.gz')])
    expect(fs.readdirSync(dir)).to.deep.equal(['vpo-library-2020-01-01T000000Z.tar.gz'])
  })
})
