/** The target contract on the in-memory target, which the fast tests use in place of a disk or a server. */
import {MemoryTarget} from '../../src/lib/storage/memory.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'
import {targetContract} from './storage-contract.js'

describe('in-memory target', () => {
  after(() => cleanupTempDirs())

  targetContract('in memory', async () => {
    const target = new MemoryTarget('memory://backups/')
    return {
      target,
      missing: new MemoryTarget('memory://never-written/'),
      async addNonRegular(name: string) {
        // What an object store's "folder" looks like, and an object one level further down.
        target.put(`${name}/`, Buffer.alloc(0))
        target.put(`${name}/inner.tar.gz`, Buffer.from('x'))
      },
      scratchDir: makeTempDir('vpo-scratch'),
      largeBytes: 6 * 1024 * 1024 + 17,
      async cleanup() {
        await target.abandonStaging()
      },
    }
  })
})
