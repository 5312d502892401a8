/** The target contract on the local directory: the first BackupTarget, and the default one. */
import fs from 'node:fs'
import path from 'node:path'

import {LocalDirectory} from '../../src/lib/storage/local-directory.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'
import {targetContract} from './storage-contract.js'

describe('local directory target', () => {
  after(() => cleanupTempDirs())

  targetContract('local directory', async () => {
    const root = makeTempDir('vpo-target')
    const location = path.join(root, 'backups')
    return {
      target: new LocalDirectory(location),
      missing: new LocalDirectory(path.join(root, 'not-there')),
      async addNonRegular(name: string) {
        fs.mkdirSync(location, {recursive: true, mode: 0o700})
        // A directory named like a backup, and a link to nowhere named like one.
        fs.mkdirSync(path.join(location, name))
        fs.symlinkSync(path.join(root, 'gone'), path.join(location, `${name}.link.tar.gz`))
      },
      scratchDir: makeTempDir('vpo-scratch'),
      largeBytes: 6 * 1024 * 1024 + 17,
      async cleanup() {
        fs.rmSync(root, {recursive: true, force: true})
      },
    }
  })
})
