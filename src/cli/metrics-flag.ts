import {Flags} from '@oclif/core'

import {LibraryBackupError} from '../lib/errors.js'

/** `--metrics-file`, on library:backup, library:verify and library:prune. */
export const metricsFileFlag = Flags.string({
  summary: "Write the run's outcome as Prometheus metrics to this file (node_exporter's textfile collector).",
  description:
    'Replaced atomically after every run, failed ones included; the last success time is kept from the previous file when a run fails.',
  helpValue: 'PATH',
})

/**
 * The --metrics-file value straight from the command line: a run whose flags did not parse (a
 * usage error) is reported too, and that happens before oclif hands over any flags.
 */
export function metricsFileInArgv(argv: readonly string[]): string | undefined {
  let found: string | undefined
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index]
    if (arg === '--') break
    if (arg === '--metrics-file' && index + 1 < argv.length) found = argv[++index]
    else if (arg.startsWith('--metrics-file=')) found = arg.slice('--metrics-file='.length)
  }

  return found === '' ? undefined : found
}

/** The exit code a run ends with, from the error it ended with (undefined: success). */
export function exitCodeOf(error: unknown): number {
  if (error === undefined) return 0
  if (error instanceof LibraryBackupError) return error.exitCode
  const exit = (error as {oclif?: {exit?: number}}).oclif?.exit
  return typeof exit === 'number' ? exit : 1
}
