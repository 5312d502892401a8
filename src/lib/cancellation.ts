/**
 * Stopping one operation (a backup, a restore, a copy, a prune) when its caller aborts the
 * `AbortSignal` it was given, and its point of no return. Before that point a stop undoes
 * everything (the cleanups run, the operation rejects with `Interrupted`); after it (the archive is
 * published, the library swapped) the operation is let finish and report, rather than claim that
 * nothing changed. The state is the operation's own, so a long-lived process can run one backup
 * after another and still stop the next.
 */

/** An object store's abort needs a round trip (to abort a multipart upload): this long at most. */
export const ASYNC_CLEANUP_LIMIT_MS = 10_000

/**
 * The reason a caller aborts with: its listeners answer, synchronously, whether the operations
 * using the signal are stopping (the caller then awaits their `Interrupted`) or past their point of
 * no return (the caller lets them finish). Neither: nothing was listening.
 */
export class Interruption {
  /** Some operation accepted the stop: it rejects with `Interrupted` once its cleanups settled. */
  stopping = false
  /** Some operation is past its point of no return and will finish. */
  finishing = false

  constructor(
    readonly signal: string,
    /** The caller's own cleanup, run before the operations' (their temporary files out of the way). */
    private readonly first: () => void = () => {},
  ) {}

  /** Called by an operation that stops, before its cleanups. */
  accept(): void {
    if (this.stopping) return
    this.stopping = true
    this.first()
  }
}

/** How an operation ends when it is stopped before its point of no return. */
export class Interrupted extends Error {
  constructor(
    readonly reason: unknown,
    /** What already stands, to add to the message: a backup published before its copies stopped. */
    readonly done = '',
  ) {
    super(`Interrupted${reason instanceof Interruption ? ` by ${reason.signal}` : ''}`)
    this.name = 'Interrupted'
  }
}

/** Whether an error means the run was stopped on purpose (and the reason is the caller's). */
export function isInterrupted(error: unknown): error is Interrupted {
  return error instanceof Interrupted
}

type Cleanup = () => Promise<void> | void

/**
 * One operation's view of its signal. Create it at the start of the operation and run the work
 * through `guard()`; mark the point of no return with `commit()`.
 */
export class Cancellation {
  private committed = false
  private done = ''
  private readonly cleanups = new Set<Cleanup>()
  private stop?: Interrupted
  private rejectStopped?: (error: Interrupted) => void
  private readonly stopped: Promise<never>
  private readonly listener = () => this.onAbort()

  constructor(readonly signal?: AbortSignal) {
    this.stopped = new Promise<never>((_resolve, reject) => {
      this.rejectStopped = reject
    })
    // Only the race in guard() reads it: an unawaited rejection must not crash the process.
    this.stopped.catch(() => {})
    signal?.addEventListener('abort', this.listener)
  }

  /** Runs `cleanup` if the operation is stopped; call the result to unregister. */
  onStop(cleanup: Cleanup): () => void {
    this.cleanups.add(cleanup)
    return () => this.cleanups.delete(cleanup)
  }

  /** A target with requests that can be stopped (an object store): stopping aborts them. */
  watch<T extends object>(target: T): T {
    const abortable = target as {abort?: () => Promise<void> | void}
    if (typeof abortable.abort === 'function') this.onStop(() => abortable.abort!())
    return target
  }

  /** Throws `Interrupted` once the operation is stopping: the last check before a step that publishes. */
  throwIfStopping(): void {
    if (this.stop) throw this.stop
  }

  /**
   * The point of no return, marked right after the step that made the change: a stop asked for
   * from now on is let finish. (A stop accepted before it has already been answered.)
   */
  commit(): void {
    this.committed = true
    this.done = ''
  }

  /**
   * Past the point of no return, work that may still be stopped (sending the backup to its
   * --copy-to places): a stop ends it like any other and its message adds `done`, what stands. A
   * stop asked for while the operation was finishing applies now.
   */
  reopen(done: string): void {
    this.committed = false
    this.done = ` ${done}`
    if (this.signal?.aborted) this.onAbort()
  }

  /**
   * `work`, or `Interrupted` as soon as a stop is accepted and the cleanups settled (at most
   * ASYNC_CLEANUP_LIMIT_MS for the asynchronous ones), even if `work` is still in a step that does
   * not look at the signal: it then ends at its next throwIfStopping() or commit().
   */
  async guard<T>(work: Promise<T>): Promise<T> {
    try {
      return await Promise.race([work, this.stopped])
    } finally {
      // A committed operation stays listening: a signal during the report is still let finish.
      if (!this.committed) this.signal?.removeEventListener('abort', this.listener)
    }
  }

  private onAbort(): void {
    const reason = this.signal?.reason
    if (this.committed) {
      if (reason instanceof Interruption) reason.finishing = true
      return
    }

    if (this.stop) return
    // The caller's cleanup first: a directory the restore made is only taken back once empty.
    if (reason instanceof Interruption) reason.accept()
    this.stop = new Interrupted(reason, this.done)
    const {stop} = this
    settleWithin(runAll(this.cleanups), ASYNC_CLEANUP_LIMIT_MS).then(() => this.rejectStopped!(stop))
  }
}

function runAll(cleanups: Set<Cleanup>): Array<Promise<void>> {
  const pending: Array<Promise<void>> = []
  for (const cleanup of cleanups) {
    try {
      const result = cleanup()
      if (result) pending.push(result.catch(() => {}))
    } catch {
      // Keep going: the other cleanups and the stop matter more.
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
