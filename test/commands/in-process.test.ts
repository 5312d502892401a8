/**
 * The commands as oclif loads them (in process, through @oclif/test): flags, help and the shapes
 * of their output. Behaviour on real libraries is covered by the suites that run bin/run.js.
 */
import {runCommand} from '@oclif/test'
import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'

import {ROOT} from '../helpers/cli.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

describe('commands as oclif sees them', () => {
  after(cleanupTempDirs)

  it('documents every command with a summary and examples in --help', async () => {
    for (const id of ['library:backup', 'library:restore', 'library:backups']) {
      const {stdout} = await runCommand([id, '--help'], {root: ROOT})
      expect(stdout, id).to.match(/USAGE/)
      expect(stdout, id).to.match(/EXAMPLES/)
      expect(stdout, id).to.include('--json')
    }
  })

  it('lists the three commands under the library topic', async () => {
    const {stdout} = await runCommand(['help', 'library'], {root: ROOT})
    expect(stdout).to.include('library:backup')
    expect(stdout).to.include('library:backups')
    expect(stdout).to.include('library:restore')
  })

  it('rejects --keep 0 as a usage error (exit 2) before touching anything', async () => {
    const dir = makeTempDir()
    const {error} = await runCommand(['library:backup', '--keep', '0', '--db', path.join(dir, 'library.db')], {
      root: ROOT,
    })
    expect(error?.oclif?.exit).to.equal(2)
    expect(fs.readdirSync(dir)).to.deep.equal([])
  })

  it('reports a missing backup directory as empty, with the hint, in --json', async () => {
    const dir = path.join(makeTempDir(), 'nothing-here')
    const {result, stdout} = await runCommand<{backups: unknown[]; directory: string; total_count: number}>(
      ['library:backups', '--path', dir, '--json'],
      {root: ROOT},
    )
    expect(result).to.deep.include({directory: dir, total_count: 0})
    expect(JSON.parse(stdout)).to.deep.equal({directory: dir, total_count: 0, total_size_bytes: 0, backups: []})
    expect(fs.existsSync(dir)).to.equal(false)
  })

  it('requires BACKUP_FILE or --latest for restore (usage error, exit 2)', async () => {
    const {error, stderr} = await runCommand(['library:restore', '--db', path.join(makeTempDir(), 'library.db')], {
      root: ROOT,
    })
    expect(error?.oclif?.exit).to.equal(2)
    expect(stderr)
      .to.match(/BACKUP_FILE/)
      .and.match(/--latest/)
  })
})
