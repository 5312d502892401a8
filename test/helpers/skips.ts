/** Skipping a test that cannot run on this machine, out loud. */
import type {Context} from 'mocha'

/**
 * Skips the running test or hook when `why` is not empty, printing it first: a machine without a
 * tool says so instead of passing silently.
 */
export function skipSaying(context: Context, why: string | undefined): void {
  if (!why) return
  console.log(`      ${why}`)
  // eslint-disable-next-line mocha/no-skipped-tests -- the caller's this.skip(), said out loud
  context.skip()
}
