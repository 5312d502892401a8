/**
 * Ctrl-C, SIGTERM and SIGHUP, and the commit point. Before the commit point an interrupt undoes
 * everything (the exit hooks remove temporary files, the cleanups release the lock and take back
 * created directories) and says so; after it (the archive is published, the library swapped) the
 * command is let finish and report, rather than claim that nothing changed.
 */
const SIGNAL_EXIT_CODES: Record<string, number> = {SIGHUP: 129, SIGINT: 130, SIGTERM: 143}
/** An object store's abort needs a round trip (to abort a multipart upload): this long at most. */
const ASYNC_CLEANUP_LIMIT_MS = 10_000
const interruptCleanups = new Set<() => Promise<void> | void>()
const exitHooks = new Set<() => void>()
let installed = false
let committed = false

let doneNote = ''

export function markCommitted(): void {
  committed = true
  doneNote = ''
}

/**
 * Past the commit point, work that may still be stopped (sending the backup to its --copy-to
 * places): an interrupt stops it like any other, and its message adds `done`, what already stands.
 */
export function reopenInterrupts(done: string): void {
  committed = false
  doneNote = ` ${done}`
}

/** Runs `hook` (synchronously) when the process exits, however it exits short of a kill -9. */
export function onExit(hook: () => void): void {
  install()
  exitHooks.add(hook)
}

/**
 * Runs `cleanup` if the process is interrupted; call the result to unregister. Synchronous
 * cleanups run first; asynchronous ones (an upload to abort in the store) are awaited, for a
 * bounded time, before the process exits. A second interrupt exits at once.
 */
export function onInterrupt(cleanup: () => Promise<void> | void): () => void {
  install()
  interruptCleanups.add(cleanup)
  return () => interruptCleanups.delete(cleanup)
}

function runAll(hooks: Set<() => Promise<void> | void>): Array<Promise<void>> {
  const pending: Array<Promise<void>> = []
  for (const hook of hooks) {
    try {
      const result = hook()
      if (result) pending.push(result.catch(() => {}))
    } catch {
      // Keep going: the other cleanups and the exit matter more.
    }
  }

  return pending
}

async function settleWithin(pending: Array<Promise<void>>, ms: number): Promise<void> {
  if (pending.length === 0) return
  let timer: NodeJS.Timeout | undefined
  const limit = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms)
  })
  await Promise.race([Promise.all(pending), limit])
  clearTimeout(timer)
}

/** Exiting through process.exit also lets proper-lockfile's own exit hook release the lock. */
function install(): void {
  if (installed) return
  installed = true
  process.on('exit', () => runAll(exitHooks))
  let interrupted = false
  for (const [signal, code] of Object.entries(SIGNAL_EXIT_CODES)) {
    process.on(signal, async () => {
      if (committed) return
      if (interrupted) process.exit(code)
      interrupted = true
      // Read now: the work being stopped may reach its end while the cleanups run.
      const done = doneNote
      runAll(exitHooks)
      await settleWithin(runAll(interruptCleanups), ASYNC_CLEANUP_LIMIT_MS)
      process.stderr.write(
        `\nInterrupted by ${signal}; temporary files were removed and the library was left as it was.${done}\n`,
      )
      process.exit(code)
    })
  }
}
