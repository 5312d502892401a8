import {Command, Errors, Flags} from '@oclif/core'

import {stringifyExactJson} from '../lib/archive/exact-json.js'
import {isInterrupted} from '../lib/cancellation.js'
import {type ErrorJson, LibraryBackupError} from '../lib/errors.js'
import {resolveLibraryLocation} from '../lib/library/library-location.js'
import {assertMetricsWritable, type MetricsCommand, writeMetricsFile} from '../lib/metrics.js'
import {exitCodeOf, metricsFileInArgv} from './metrics-flag.js'
import {repeatableFlag} from './repeatable-flag.js'
import {RunSignals} from './run-signals.js'
import {escapeForTerminal} from './ui/terminal-text.js'
import {asTheFlagSaidIt, usageErrorFromOclif} from './usage-errors.js'

/** The schema version this VPO supports when the host CLI does not declare `vpo.schemaVersion`. */
export const BUILT_IN_SCHEMA_VERSION = 27

export const databaseFlag = Flags.string({
  summary: 'Path of the library database.',
  description: 'Defaults to library.db in $VPO_DATA_DIR, or in ~/.vpo when that is not set.',
  helpValue: 'PATH',
})

export const identityFlag = repeatableFlag({
  summary: 'age identity file (or SSH private key) that opens encrypted backups; repeatable.',
  description: 'Defaults to $VPO_BACKUP_IDENTITY_FILE. The file must not be readable by group or others.',
  helpValue: 'FILE',
})

/** -p/--path: the backups are somewhere other than the backup directory (a directory or an s3:// prefix). */
export function backupsPathFlag(summary: string, options: {dependsOn?: string[]} = {}) {
  return Flags.string({char: 'p', summary, helpValue: 'DIR', ...options})
}

export interface FailureJson {
  success: false
  error: ErrorJson
}

/**
 * What the commands share: --json, and errors rendered as one sentence (or one JSON object) with
 * the exit code the error carries, never a stack trace.
 */
export abstract class LibraryCommand extends Command {
  /** `-h` as well as `--help`, whatever the host CLI configures. */
  static baseFlags = {help: Flags.help({char: 'h'})}
  static enableJsonFlag = true
  /** Set by a command for --metrics-file: the gauges this run measured (see lib/metrics.ts). */
  protected metricValues: Record<string, number> = {}
  private startedAt = new Date()
  private metricsFile?: string
  /** The exit code fail() chose: the error reaching finally() is then oclif's ExitError. */
  private failedWithCode?: number
  private readonly signals = new RunSignals()

  async init(): Promise<void> {
    this.startedAt = new Date()
    this.signals.install()
    const flags = (this.constructor as typeof Command).flags ?? {}
    if ('metrics-file' in flags) {
      const file = metricsFileInArgv(this.argv)
      // A dry run changes nothing: recording it would report a backup or a prune that did not happen.
      if (file !== undefined && !this.argv.includes('--dry-run')) {
        assertMetricsWritable(file)
        this.metricsFile = file
      }
    }

    await super.init()
  }

  /** --metrics-file after every run, failed ones included; `-h` is not a run. */
  async finally(error: Error | undefined): Promise<void> {
    this.signals.uninstall()
    const reported = error instanceof Errors.ExitError ? this.failedWithCode : exitCodeOf(error)
    if (this.metricsFile && reported !== undefined) {
      try {
        writeMetricsFile(this.metricsFile, {
          command: this.id!.replace(/^library:/, '') as MetricsCommand,
          exitCode: reported,
          startedAt: this.startedAt,
          finishedAt: new Date(),
          values: this.metricValues,
        })
      } catch (writeError) {
        process.stderr.write(
          `Warning: The metrics file ${escapeForTerminal(this.metricsFile)} could not be written (${escapeForTerminal((writeError as Error).message)}).\n`,
        )
      }
    }

    await super.finally(error)
  }

  protected async catch(error: Error & {oclif?: {exit?: number}}): Promise<unknown> {
    if (error instanceof Errors.ExitError) throw quietExit(error)
    if (isInterrupted(error)) return this.signals.exitInterrupted(error)
    if (error instanceof LibraryBackupError) return this.fail(asTheFlagSaidIt(error))
    // oclif's own usage errors (unknown flag, bad value, missing argument): one sentence, exit 2.
    if (error.oclif?.exit === 2) return this.fail(usageErrorFromOclif(error.message, this.id))

    const detail = process.env.DEBUG ? `\n${error.stack}` : ''
    return this.fail(
      new LibraryBackupError('IO_ERROR', `Unexpected failure: ${error.message}${detail}`, {
        hint: 'Run again with DEBUG=1 for details, and report it if it persists.',
      }),
    )
  }

  /** Every exit, `-h` included (oclif's help flag ends with `cmd.exit(0)`), goes through here. */
  exit(code = 0): never {
    try {
      return Errors.exit(code)
    } catch (error) {
      throw quietExit(error as Errors.ExitError)
    }
  }

  /** Aborted by Ctrl-C, SIGTERM or SIGHUP during this run: pass it to the service layer. */
  protected get signal(): AbortSignal {
    return this.signals.signal
  }

  /** The version written into backups: the host CLI's, or this plugin's when run on its own. */
  protected get vpoVersion(): string {
    return this.config.version
  }

  /** The schema version restores compare against: the host's `vpo.schemaVersion`, else ours. */
  protected get supportedSchemaVersion(): number {
    const declared = (this.config.pjson as {vpo?: {schemaVersion?: unknown}}).vpo?.schemaVersion
    return typeof declared === 'number' && Number.isInteger(declared) && declared > 0
      ? declared
      : BUILT_IN_SCHEMA_VERSION
  }

  protected location(db?: string) {
    return resolveLibraryLocation({db})
  }

  /** Progress on stderr, only for a person watching a terminal. */
  protected get showProgress(): boolean {
    return Boolean(process.stderr.isTTY) && !this.jsonEnabled()
  }

  /** Exact integers past 2^53 (bigint) print as JSON integers, not as an error or a rounded float. */
  logJson(json: unknown): void {
    process.stdout.write(`${stringifyExactJson(json, 2)}\n`)
  }

  /** A line for the terminal whose parts may come from an archive or a file name. */
  protected logSafe(text: string): void {
    this.log(escapeForTerminal(text))
  }

  /** A failure that still has a report to show: the report's JSON carries the error too. */
  protected failWith(error: LibraryBackupError, json: object): never {
    return this.fail(error, json)
  }

  private fail(error: LibraryBackupError, report?: object): never {
    this.failedWithCode = error.exitCode
    if (this.jsonEnabled()) this.logJson({...report, success: false, error: error.toJSON()} satisfies FailureJson)
    else process.stderr.write(`Error: ${escapeForTerminal(error.sentence)}\n`)
    this.exit(error.exitCode)
  }
}

/**
 * A host CLI loads us with its own copy of @oclif/core, whose error handler does not recognise our
 * copy's ExitError (`instanceof` fails across copies) and prints it as "Error: EEXIT: 1" (or, after
 * `-h`, "Error: Parsing --help EEXIT: 0"). Marked, it ends the process quietly with its code in any
 * host, as it does when run on our own.
 */
function quietExit(error: Errors.ExitError): Errors.ExitError {
  error.skipOclifErrorHandling = true
  return error
}
