/**
 * Pruning on a directory of files named like backups that are not archives: a file known to be
 * damaged never counts toward a rule, so none goes. The policy itself is in retention.test.ts; real
 * archives are pruned in test/commands/prune.test.ts.
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

  it('counts no file that is not a whole archive toward a rule: all are kept, each reported damaged, nothing else touched', async () => {
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
    const report = await pruneBackups(new LocalDirectory(dir), {last: 1})
    expect(report.removed).to.deep.equal([])
    const regular = report.decisions.filter((decision) =>
      /T\d{6}Z(-2)?\.tar\.gz$|T00-00-00Z/.test(decision.backup.filename),
    )
    expect(regular).to.have.lengthOf(4)
    for (const decision of regular) expect(decision.reasons.join(' ')).to.match(/damaged/)
    expect(fs.readdirSync(dir).sort()).to.deep.equal([...names].sort())
  })
})
