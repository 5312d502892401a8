/**
 * Issue 19's mechanisms, seen from outside through strace on the real commands: SQLite reads the
 * library, the snapshot and a restored copy through a memory map (not one pread64 per page), the
 * limit turns that off, and an encrypted restore decrypts as it reads, writing no decrypted copy.
 */
import {expect} from 'chai'
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import type {BackupJson} from '../../src/cli/json-results.js'

import {makeAgeKey, missingTools} from '../helpers/age.js'
import {parseJson, RUN} from '../helpers/cli.js'
import {cloneLibrary, type DataDir, libraryContent, makeDataDir} from '../helpers/libraries.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

const HAS_STRACE = spawnSync('strace', ['-f', '-c', '-o', '/dev/null', 'true']).status === 0

interface Traced {
  code: null | number
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** strace's own output: a -c summary or a call log. */
  trace: string
}

function traced(strace: string[], args: string[], env: NodeJS.ProcessEnv): Traced {
  const out = path.join(makeTempDir('vpo-strace'), 'strace.txt')
  const result = spawnSync('strace', ['-f', ...strace, '-o', out, process.execPath, RUN, ...args], {
    encoding: 'utf8',
    env: {...process.env, ...env},
  })
  return {
    code: result.status,
    signal: result.signal,
    stdout: result.stdout,
    stderr: result.stderr,
    trace: fs.readFileSync(out, 'utf8'),
  }
}

/** Calls of one system call in a `strace -c` summary (absent when there were none). */
function calls(summary: string, syscall: string): number {
  const line = summary.split('\n').find((l) => l.trim().endsWith(` ${syscall}`))
  return line ? Number(line.trim().split(/\s+/)[3]) : 0
}

describe('performance mechanisms (issue 19), traced with strace', function () {
  this.timeout(180_000)
  let library: DataDir
  let pages: number

  before(function () {
    if (!HAS_STRACE) {
      console.log('      strace is not installed')
      this.skip()
    }

    library = makeDataDir({files: 6000, walFiles: 25})
    pages = fs.statSync(library.databasePath).size / 4096
  })

  after(() => cleanupTempDirs())

  function backupAndRestore(env: NodeJS.ProcessEnv): {backupReads: number; restoreReads: number; restored: DataDir} {
    const out = path.join(makeTempDir('vpo-out'), 'backup.tar.gz')
    const source = cloneLibrary(library)
    const backup = traced(['-c', '-e', 'trace=pread64'], ['library:backup', '--output', out, '--json'], {
      ...source.env,
      ...env,
    })
    expect(backup.code, backup.stderr).to.equal(0)
    expect((parseJson(backup) as unknown as BackupJson).path).to.equal(out)
    const restored = cloneLibrary(library)
    const restore = traced(
      ['-c', '-e', 'trace=pread64'],
      ['library:restore', out, '--yes', '--no-safety-backup', '--json'],
      {...restored.env, ...env},
    )
    expect(restore.code, restore.stderr).to.equal(0)
    return {backupReads: calls(backup.trace, 'pread64'), restoreReads: calls(restore.trace, 'pread64'), restored}
  }

  it('a backup and a restore read the database through a memory map; VPO_BACKUP_MMAP_BYTES=0 reads page by page, with the same result', () => {
    const mapped = backupAndRestore({})
    const unmapped = backupAndRestore({VPO_BACKUP_MMAP_BYTES: '0'})
    // Page by page, the snapshot, quick_check and the statistics each read about every page.
    expect(unmapped.backupReads, `${pages} pages`).to.be.above(2 * pages)
    expect(unmapped.restoreReads, `${pages} pages`).to.be.above(pages)
    // Mapped, what is left is the WAL and the odd header: a small fraction of the pages.
    expect(mapped.backupReads, `${pages} pages`).to.be.below(pages / 4)
    expect(mapped.restoreReads, `${pages} pages`).to.be.below(pages / 4)
    const want = libraryContent(library.databasePath).digest
    expect(libraryContent(mapped.restored.databasePath).digest).to.equal(want)
    expect(libraryContent(unmapped.restored.databasePath).digest).to.equal(want)
  })

  it('an encrypted restore opens no decrypted copy of the archive and restores the library', function () {
    const missing = missingTools({age: true})
    if (missing) {
      console.log(`      ${missing}`)
      this.skip()
    }

    const key = makeAgeKey(makeTempDir('vpo-keys'))
    const out = path.join(makeTempDir('vpo-out'), 'backup.tar.gz.age')
    const made = spawnSync(
      process.execPath,
      [RUN, 'library:backup', '--encrypt-to', key.recipient, '--output', out, '--json'],
      {encoding: 'utf8', env: {...process.env, ...cloneLibrary(library).env}},
    )
    expect(made.status, made.stderr).to.equal(0)
    const target = cloneLibrary(library)
    const tmp = makeTempDir('vpo-tmp')
    const restore = traced(
      ['-e', 'trace=open,openat,creat'],
      ['library:restore', out, '--identity', key.identityFile, '--yes', '--no-safety-backup', '--json'],
      {...target.env, TMPDIR: tmp},
    )
    expect(restore.code, restore.stderr).to.equal(0)
    const created = restore.trace.split('\n').filter((line) => /O_CREAT/.test(line))
    expect(created.filter((line) => line.includes('.vpo-backup-tmp-')).length, 'the restore candidate').to.be.above(0)
    expect(created.filter((line) => /decrypted|\.tar\.gz"/.test(line))).to.deep.equal([])
    expect(fs.readdirSync(tmp)).to.deep.equal([])
    expect(libraryContent(target.databasePath).digest).to.equal(libraryContent(library.databasePath).digest)
  })
})
