/**
 * Errors name the backup as the user gave it (issue 17 item 5): a damaged archive inside an age
 * file is reported under the .age file's name, never its decrypted scratch copy, and a backup the
 * listing cannot open gets one sentence, not "EACCES: permission denied, open '…'".
 */
import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'

import type {BackupsJson, VerifyJson} from '../../src/cli/json-results.js'

import {makeAgeKey, missingTools, runOk} from '../helpers/age.js'
import {parseJson, runCli} from '../helpers/cli.js'
import {expectHumanError, expectJsonError} from '../helpers/expectations.js'
import {archiveOf, makeDataDir, sha256File} from '../helpers/libraries.js'
import {canSwitchUser, runCliAs} from '../helpers/other-processes.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

describe('errors name the backup as the user gave it', function () {
  this.timeout(120_000)

  after(cleanupTempDirs)

  it('a damaged archive inside an age file: restore and verify name the .age file, not the decrypted copy', async function () {
    const missing = missingTools({age: true})
    if (missing) this.skip()
    const lib = makeDataDir({files: 30, walFiles: 0})
    const plain = await archiveOf(lib)
    const dir = makeTempDir('vpo-sealed')
    const key = makeAgeKey(dir)
    const cut = path.join(dir, 'cut.tar.gz')
    fs.writeFileSync(cut, fs.readFileSync(plain.path).subarray(0, Math.floor(fs.statSync(plain.path).size / 2)))
    const sealed = path.join(dir, 'vpo-library-2031-01-01T000000Z.tar.gz.age')
    runOk('age', ['-r', key.recipient, '-o', sealed, cut])

    const target = makeDataDir({files: 5, walFiles: 0})
    const before = sha256File(target.databasePath)
    const restored = await runCli(['library:restore', '--yes', '--identity', key.identityFile, sealed], {
      env: target.env,
    })
    const sentence = expectHumanError(restored, 3)
    expect(sentence).to.include(`${sealed} is not a valid VPO backup`)
    expect(sentence).not.to.match(/\.vpo-backup-tmp|decrypted\.tar\.gz/)
    const json = await runCli(['library:restore', '--yes', '--json', '--identity', key.identityFile, sealed], {
      env: target.env,
    })
    expect(expectJsonError(json, 'INVALID_ARCHIVE', 3))
      .to.include(sealed)
      .and.not.include('.vpo-backup-tmp')
    expect(sha256File(target.databasePath)).to.equal(before)

    const verified = await runCli(['library:verify', '--json', '--identity', key.identityFile, sealed], {env: lib.env})
    expect(verified.code).to.equal(3)
    const [check] = (parseJson(verified) as unknown as VerifyJson).backups
    expect(check.problem).to.match(/^\S+ is not a valid VPO backup/)
    expect(check.problem!.startsWith(`${sealed} is not`)).to.equal(true)
  })

  it('a backup the user cannot read: the listing says so in one sentence that names it', async function () {
    if (!canSwitchUser()) this.skip()
    const lib = makeDataDir({files: 20, walFiles: 0})
    const dir = makeTempDir('vpo-private')
    fs.chmodSync(dir, 0o755)
    const archive = path.join(dir, 'vpo-library-2031-01-01T000000Z.tar.gz')
    fs.copyFileSync((await archiveOf(lib)).path, archive)
    fs.chmodSync(archive, 0o600) // root's, unreadable by nobody
    const home = makeTempDir('vpo-home')
    fs.chmodSync(home, 0o777)
    const env = {HOME: home, VPO_DATA_DIR: path.join(home, 'vpo')}

    const human = await runCliAs(65_534, 65_534, ['library:backups', '--path', dir], env)
    expect(human.code, human.stderr).to.equal(0)
    expect(human.stdout).to.include(
      `Unreadable: ${archive} cannot be read by this user (permission denied); check its owner and mode, or run as its owner`,
    )
    expect(human.stdout + human.stderr).not.to.match(/EACCES|open '/)
    const json = parseJson(await runCliAs(65_534, 65_534, ['library:backups', '--json', '--path', dir], env))
    const [entry] = (json as unknown as BackupsJson).backups
    expect(entry.readable).to.equal(false)
    expect(entry.problem).to.equal(
      `${archive} cannot be read by this user (permission denied); check its owner and mode, or run as its owner`,
    )
  })
})
