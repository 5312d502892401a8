/**
 * Stopping an operation through the AbortSignal it was given, and its point of no return: the
 * state is the operation's own, so one that finished never keeps the next from being stopped.
 */
import {expect} from 'chai'
import fs from 'node:fs'

import {createBackup} from '../../src/lib/backup.js'
import {Cancellation, Interrupted, Interruption} from '../../src/lib/cancellation.js'
import {listArchives, listTemps, lockDirectory} from '../helpers/leftovers.js'
import {makeDataDir} from '../helpers/libraries.js'
import {cleanupTempDirs} from '../helpers/temp-dirs.js'
import {pollUntil} from '../helpers/waiting.js'

/** Work that ends only when told to. */
function pending<T>(): {promise: Promise<T>; resolve(value: T): void} {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((done) => {
    resolve = done
  })
  return {promise, resolve}
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }

  throw new Error('expected a rejection')
}

describe('cancellation', () => {
  after(() => cleanupTempDirs())

  it('stops an operation before its point of no return: the caller first, then its cleanups, then Interrupted', async () => {
    const order: string[] = []
    const controller = new AbortController()
    const stop = new Cancellation(controller.signal)
    stop.onStop(async () => {
      order.push('operation cleanup')
    })
    const work = pending<string>()
    const guarded = stop.guard(work.promise)
    const reason = new Interruption('SIGINT', () => order.push('caller cleanup'))
    controller.abort(reason)
    const error = await rejection(guarded)
    expect(error).to.be.instanceOf(Interrupted)
    expect((error as Interrupted).reason).to.equal(reason)
    expect(reason).to.include({stopping: true, finishing: false})
    expect(order).to.deep.equal(['caller cleanup', 'operation cleanup'])
    expect(() => stop.throwIfStopping()).to.throw(Interrupted)
  })

  it('lets an operation past its point of no return finish, and says so to the caller', async () => {
    const controller = new AbortController()
    const stop = new Cancellation(controller.signal)
    let cleaned = false
    stop.onStop(() => {
      cleaned = true
    })
    const work = pending<string>()
    const guarded = stop.guard(work.promise)
    stop.commit()
    const reason = new Interruption('SIGTERM')
    controller.abort(reason)
    work.resolve('reported')
    expect(await guarded).to.equal('reported')
    expect(reason).to.include({stopping: false, finishing: true})
    expect(cleaned).to.equal(false)
  })

  it('stops work reopened after the commit (copies on their way), with what already stands in the message', async () => {
    const controller = new AbortController()
    const stop = new Cancellation(controller.signal)
    const guarded = stop.guard(pending<void>().promise)
    stop.commit()
    const reason = new Interruption('SIGINT')
    controller.abort(reason)
    expect(reason.finishing).to.equal(true)
    // The stop asked for while finishing applies as soon as there is something to stop again.
    stop.reopen('The backup was written.')
    const error = (await rejection(guarded)) as Interrupted
    expect(error).to.be.instanceOf(Interrupted)
    expect(error.done).to.equal(' The backup was written.')
  })

  it('an operation that committed leaves the next one, on its own signal, as stoppable as the first', async () => {
    const first = new AbortController()
    const done = new Cancellation(first.signal)
    const finished = done.guard(Promise.resolve('first'))
    done.commit()
    expect(await finished).to.equal('first')

    const second = new AbortController()
    const stop = new Cancellation(second.signal)
    const guarded = stop.guard(pending<string>().promise)
    second.abort(new Interruption('SIGINT'))
    expect(await rejection(guarded)).to.be.instanceOf(Interrupted)
  })

  it('a backup, then a second one stopped mid-way in the same process: Interrupted, nothing published, no temporary file, no lock', async () => {
    const lib = makeDataDir({files: 3000, walFiles: 10})
    const options = {databasePath: lib.databasePath, backupDir: lib.backupDir, vpoVersion: '0.0.0-test'}
    await createBackup({...options, signal: new AbortController().signal})
    const first = listArchives(lib.backupDir)
    expect(first).to.have.lengthOf(1)

    const controller = new AbortController()
    const error = await rejection(
      createBackup({
        ...options,
        signal: controller.signal,
        onProgress: (phase) => phase === 'compress' && controller.abort(new Interruption('SIGINT')),
      }),
    )
    expect(error).to.be.instanceOf(Interrupted)
    // The stopped work unwinds on its own: its next check (before publishing) ends it.
    const unwound = await pollUntil(
      () => listTemps(lib.backupDir).length === 0 && !fs.existsSync(lockDirectory(lib.databasePath)),
      10_000,
      5,
    )
    expect(unwound, 'temporary files or the lock were left behind').to.equal(true)
    expect(listArchives(lib.backupDir)).to.deep.equal(first)
  })
})
