/**
 * A restore is planned before the library lock is held and carried out once it is: what can change
 * in between must be decided again, or a library made meanwhile is replaced unasked.
 */
import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'

import {Cancellation} from '../../src/lib/cancellation.js'
import {LibraryBackupError} from '../../src/lib/errors.js'
import {writeBackup} from '../../src/lib/repository/write-backup.js'
import {applyRestore} from '../../src/lib/restore/apply.js'
import {planRestoreOf} from '../../src/lib/restore/plan.js'
import {LocalDirectory} from '../../src/lib/storage/local-directory.js'
import {makeDataDir} from '../helpers/libraries.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

describe('restore: plan, then apply', function () {
  this.timeout(60_000)

  after(() => cleanupTempDirs())

  it('leaves a library made after the plan as it is, and restores nothing (exit 4)', async () => {
    const source = makeDataDir({files: 200, walFiles: 0})
    const archive = await writeBackup({
      databasePath: source.databasePath,
      destination: {target: new LocalDirectory(source.backupDir)},
      kind: 'backup',
      vpoVersion: '0.1.0',
      assertLockHeld() {},
    })
    const machine = path.join(makeTempDir('vpo-empty'), 'vpo')
    const databasePath = path.join(machine, 'library.db')
    const options = {
      backupDir: path.join(machine, 'backups'),
      databasePath,
      safetyBackup: true,
      supportedSchemaVersion: archive.metadata.schema_version,
    }

    const plan = await planRestoreOf(archive.path, {encrypted: false, sourcePath: archive.path}, options)
    expect(plan.replacesLibrary).to.equal(false)
    // Another restore onto the same empty machine finishes first.
    fs.mkdirSync(machine, {recursive: true})
    fs.writeFileSync(databasePath, 'the library the other restore put here')

    let confirmed = false
    const failure = await applyRestore(
      plan,
      archive.path,
      {
        ...options,
        vpoVersion: '0.1.0',
        async confirm() {
          confirmed = true
          return true
        },
      },
      new Cancellation(),
    ).catch((error: unknown) => error)

    expect(failure).to.be.instanceOf(LibraryBackupError)
    expect((failure as LibraryBackupError).exitCode).to.equal(4)
    expect((failure as LibraryBackupError).message).to.include(`A library appeared at ${databasePath}`)
    expect(confirmed).to.equal(false)
    expect(fs.readFileSync(databasePath, 'utf8')).to.equal('the library the other restore put here')
    expect(fs.readdirSync(machine).sort()).to.deep.equal(['library.db'])
  })
})
