/**
 * A directory that cannot be made (issue 17 item 4). Under /proc, mkdir of a missing name says
 * ENOENT although its parent exists, and Node's recursive mkdir retried that forever inside one
 * C++ call: `library:backup --output /proc/foo/` spun at 100% CPU, held the library lock and
 * ignored SIGINT and SIGTERM. Now it is a one-sentence failure at once, the lock released.
 */
import {expect} from 'chai'
import fs from 'node:fs'

import {finishCli, runCli, startCli} from '../helpers/cli.js'
import {expectHumanError, expectJsonError} from '../helpers/expectations.js'
import {lockDirectory} from '../helpers/leftovers.js'
import {archiveOf, makeDataDir} from '../helpers/libraries.js'
import {cleanupTempDirs} from '../helpers/temp-dirs.js'

const HAS_PROC = fs.existsSync('/proc/self')

describe('a directory that cannot be made', function () {
  this.timeout(120_000)

  after(cleanupTempDirs)

  before(function () {
    if (!HAS_PROC) this.skip()
  })

  for (const output of ['/proc/vpo-no-such-dir/', '/proc/vpo-no-such-dir/deeper/', '/proc/self/vpo-backups/']) {
    it(`backup --output ${output} fails at once, exit 1, one sentence; the lock is free for the next backup`, async () => {
      const lib = makeDataDir({files: 20, walFiles: 0})
      const started = Date.now()
      const human = await runCli(['library:backup', '--output', output], {env: lib.env, timeoutMs: 20_000})
      expect(human.signal, 'killed by the test timeout: it hung').to.equal(null)
      expect(Date.now() - started).to.be.below(15_000)
      expect(expectHumanError(human, 1)).to.match(
        /^Error: Cannot create the directory \/proc\/\S+: \/proc\S* does not take new directories;/,
      )
      const json = await runCli(['library:backup', '--json', '--output', output], {env: lib.env, timeoutMs: 20_000})
      expect(expectJsonError(json, 'IO_ERROR', 1)).to.include('does not take new directories')
      expect(fs.existsSync(lockDirectory(lib.databasePath)), 'lock left behind').to.equal(false)
      const next = await runCli(['library:backup', '--json'], {env: lib.env})
      expect(next.code, next.stderr).to.equal(0)
    })
  }

  it('restore --db /proc/…/library.db fails at once, and SIGTERM ends a backup to /proc at any moment', async () => {
    const lib = makeDataDir({files: 20, walFiles: 0})
    const archive = await archiveOf(lib)
    const restore = await runCli(
      ['library:restore', '--yes', '--db', '/proc/vpo-no-such-dir/library.db', archive.path],
      {
        env: lib.env,
        timeoutMs: 20_000,
      },
    )
    expect(expectHumanError(restore, 1)).to.include('does not take new directories')

    // Old behaviour: still spinning after the signal, until the test's own SIGKILL.
    for (const delayMs of [150, 400, 900]) {
      const child = startCli(['library:backup', '--output', '/proc/vpo-no-such-dir/'], {env: lib.env})
      const done = finishCli(child, 20_000)
      await new Promise((resolve) => {
        setTimeout(resolve, delayMs)
      })
      child.kill('SIGTERM')
      const result = await done
      expect(result.signal, `${delayMs} ms: ${result.stderr}`).not.to.equal('SIGKILL')
      expect(result.code === null ? result.signal : result.code, result.stderr).to.be.oneOf([1, 130, 143, 'SIGTERM'])
      expect(fs.existsSync(lockDirectory(lib.databasePath)), 'lock left behind').to.equal(false)
    }
  })
})
