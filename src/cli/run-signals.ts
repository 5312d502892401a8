import {Interrupted, Interruption} from '../lib/cancellation.js'
import {removeOwnedTemps} from '../lib/fs/temp-files.js'

const SIGNAL_EXIT_CODES: Record<string, number> = {SIGHUP: 129, SIGINT: 130, SIGTERM: 143}

/**
 * Ctrl-C, SIGTERM and SIGHUP for one run of a command: each aborts the run's AbortSignal, which
 * the service layer listens to. An operation before its point of no return stops (its cleanups
 * run, it rejects with `Interrupted`, and the command exits through `exitInterrupted`); one past
 * it is let finish and report; with nothing running that could stop, the process exits at once.
 * A second signal while stopping exits at once. The handlers are removed when the run ends, so a
 * long-lived process that runs commands one after another starts each with a fresh signal.
 */
export class RunSignals {
  private readonly controller = new AbortController()
  private readonly handlers = new Map<string, () => void>()
  private ended = false

  get signal(): AbortSignal {
    return this.controller.signal
  }

  install(): void {
    if (this.handlers.size > 0) return
    // An interrupted run exits without unwinding: its temporary files go on the way out.
    process.on('exit', removeOwnedTemps)
    for (const name of Object.keys(SIGNAL_EXIT_CODES)) {
      const handler = () => this.received(name)
      this.handlers.set(name, handler)
      process.on(name, handler)
    }
  }

  /**
   * A signal sent during the run's last synchronous stretch (just after its commit) is dispatched
   * on a later turn of the event loop: with the handlers already gone it would get the default
   * action, death by signal after a run that succeeded. So the run's handlers stay, ignoring
   * signals, until the loop has turned.
   */
  uninstall(): void {
    this.ended = true
    setImmediate(() => {
      for (const [name, handler] of this.handlers) process.off(name, handler)
      if (this.handlers.size > 0) process.off('exit', removeOwnedTemps)
      this.handlers.clear()
    })
  }

  /** The way out of a run whose operation stopped: the message, then the signal's exit code. */
  exitInterrupted(stopped: Interrupted): never {
    const name = stopped.reason instanceof Interruption ? stopped.reason.signal : 'SIGINT'
    removeOwnedTemps()
    process.stderr.write(
      `\nInterrupted by ${name}; temporary files were removed and the library was left as it was.${stopped.done}\n`,
    )
    return process.exit(SIGNAL_EXIT_CODES[name])
  }

  private received(name: string): void {
    if (this.ended) return
    const {signal} = this.controller
    if (signal.aborted) {
      const first = signal.reason as Interruption
      // Past the point of no return every signal is let finish; while stopping, the next is final.
      if (!first.finishing || first.stopping) process.exit(SIGNAL_EXIT_CODES[name])
      return
    }

    const reason = new Interruption(name, removeOwnedTemps)
    this.controller.abort(reason) // the listeners answer synchronously
    if (reason.stopping || reason.finishing) return
    this.exitInterrupted(new Interrupted(reason))
  }
}
