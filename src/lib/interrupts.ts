/**
 * Ctrl-C, SIGTERM and SIGHUP, and the commit point. Before the commit point an interrupt undoes
 * everything (the exit hooks remove temporary files, the cleanups release the lock and take back
 * created directories) and says so; after it (the archive is published, the library swapped) the
 * command is let finish and report, rather than claim that nothing changed.
 */
const SIGNAL_EXIT_CODES: Record<string, number> = {SIGHUP: 129, SIGINT: 130, SIGTERM: 143}
const interruptCleanups = new Set<() => void>()
const exitHooks = new Set<() => void>()
let installed = false
let committed = false

export function markCommitted(): void {
  committed = true
}

/** Runs `hook` (synchronously) when the process exits, however it exits short of a kill -9. */
export function onExit(hook: () => void): void {
  install()
  exitHooks.add(hook)
}

/** Runs `cleanup` (synchronously) if the process is interrupted; call the result to unregister. */
export function onInterrupt(cleanup: () => void): () => void {
  install()
  interruptCleanups.add(cleanup)
  return () => interruptCleanups.delete(cleanup)
}

function runAll(hooks: Set<() => void>): void {
  for (const hook of hooks) {
    try {
      hook()
    } catch {
      // Keep going: the other cleanups and the exit matter more.
    }
  }
}

/** Exiting through process.exit also lets proper-lockfile's own exit hook release the lock. */
function install(): void {
  if (installed) return
  installed = true
  process.on('exit', () => runAll(exitHooks))
  for (const [signal, code] of Object.entries(SIGNAL_EXIT_CODES)) {
    process.on(signal, () => {
      if (committed) return
      runAll(exitHooks)
      runAll(interruptCleanups)
      process.stderr.write(`\nInterrupted by ${signal}; temporary files were removed and the library was left as it was.\n`)
      process.exit(code)
    })
  }
}
