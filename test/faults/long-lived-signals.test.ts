/**
 * Ctrl-C in a process that lives longer than one command: a host that runs library:backup in
 * process, once and then again. The second backup must stop as the first would have (exit 130,
 * nothing published, no temporary file, no lock), not run on because the first one passed its
 * point of no return.
 */
import {expect} from 'chai'
import {spawn} from 'node:child_process'
import fs from 'node:fs'

import {cleanEnv, ROOT} from '../helpers/cli.js'
import {listArchives, listTemps, lockDirectory} from '../helpers/leftovers.js'
import {makeDataDir} from '../helpers/libraries.js'
import {cleanupTempDirs} from '../helpers/temp-dirs.js'
import {pollUntil} from '../helpers/waiting.js'

/** One Node process, one oclif Config, the real commands from dist/ run one after another. */
const HOST = `
import {Config} from '@oclif/core'
const config = await Config.load(${JSON.stringify(ROOT)})
for (const run of ['first', 'second']) {
  await config.runCommand('library:backup', ['--json'])
  process.stderr.write('\\n' + run + ' backup done\\n')
}
`

describe('faults: Ctrl-C in a long-lived process', function () {
  this.timeout(180_000)

  after(() => cleanupTempDirs())

  it('SIGINT during the second backup in one process: exit 130, the first archive only, no temporary file, no lock', async () => {
    const lib = makeDataDir({files: 22_000, walFiles: 25})
    const child = spawn(process.execPath, ['--input-type=module', '-e', HOST], {
      cwd: ROOT,
      env: {...cleanEnv(), ...lib.env},
    })
    let stderr = ''
    child.stderr.on('data', (chunk) => (stderr += chunk))
    child.stdout.resume()
    const exited = new Promise<[null | number, NodeJS.Signals | null]>((resolve) => {
      child.on('close', (code, signal) => resolve([code, signal]))
    })

    expect(await pollUntil(() => stderr.includes('first backup done'), 60_000, 5), stderr).to.equal(true)
    const first = listArchives(lib.backupDir)
    expect(first).to.have.lengthOf(1)
    // The second backup is under way once its compressed archive is being written.
    const midway = await pollUntil(() => listTemps(lib.backupDir).some((name) => name.endsWith('.tar.gz')), 60_000, 1)
    expect(midway, `the second backup never started writing: ${stderr}`).to.equal(true)
    child.kill('SIGINT')

    const [code, signal] = await exited
    expect({code, signal}, stderr).to.deep.equal({code: 130, signal: null})
    expect(stderr).to.include('Interrupted by SIGINT; temporary files were removed and the library was left as it was.')
    expect(stderr).to.not.include('second backup done')
    expect(listArchives(lib.backupDir), 'archives after the interrupted second backup').to.deep.equal(first)
    expect([...listTemps(lib.backupDir), ...listTemps(lib.dataDir)], 'temporary files').to.deep.equal([])
    expect(fs.existsSync(lockDirectory(lib.databasePath)), 'lock left behind').to.equal(false)
  })
})
