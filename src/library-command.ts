import {Command, Errors, Flags} from '@oclif/core'

import {LibraryBackupError} from './lib/errors.js'
import {resolveLibraryLocation} from './lib/paths.js'

/** The schema version this VPO supports when the host CLI does not declare `vpo.schemaVersion`. */
export const BUILT_IN_SCHEMA_VERSION = 27

export const databaseFlag = Flags.string({
  summary: 'Path of the library database.',
  description: 'Defaults to library.db in $VPO_DATA_DIR, or in ~/.vpo when that is not set.',
  helpValue: 'PATH',
})

/**
 * What the three commands share: --json, and errors rendered as one sentence (or one JSON
 * object) with the exit code the error carries, never a stack trace.
 */
export abstract class LibraryCommand extends Command {
  static enableJsonFlag = true

  protected async catch(error: Error & {oclif?: {exit?: number}}): Promise<unknown> {
    if (error instanceof Errors.ExitError) throw error
    if (error instanceof LibraryBackupError) return this.fail(error)
    if (error.oclif?.exit === 2) {
      // oclif's own usage errors (unknown flag, missing argument) keep oclif's wording and help hint.
      if (!this.jsonEnabled()) return super.catch(error)
      return this.fail(new LibraryBackupError('USAGE_ERROR', error.message.split('\n')[0]))
    }

    const detail = process.env.DEBUG ? `\n${error.stack}` : ''
    return this.fail(new LibraryBackupError('IO_ERROR', `Unexpected failure: ${error.message}; nothing was changed. Run again with DEBUG=1 for details.${detail}`))
  }

  /** The version written into backups: the host CLI's, or this plugin's when run on its own. */
  protected get vpoVersion(): string {
    return this.config.version
  }

  /** The schema version restores compare against: the host's `vpo.schemaVersion`, else ours. */
  protected get supportedSchemaVersion(): number {
    const declared = (this.config.pjson as {vpo?: {schemaVersion?: unknown}}).vpo?.schemaVersion
    return typeof declared === 'number' && Number.isInteger(declared) && declared > 0 ? declared : BUILT_IN_SCHEMA_VERSION
  }

  protected location(db?: string) {
    return resolveLibraryLocation({db})
  }

  /** Progress on stderr, only for a person watching a terminal. */
  protected get showProgress(): boolean {
    return Boolean(process.stderr.isTTY) && !this.jsonEnabled()
  }

  private fail(error: LibraryBackupError): never {
    if (this.jsonEnabled()) this.logJson({success: false, error: error.toJSON()})
    else process.stderr.write(`Error: ${error.message}\n`)
    this.exit(error.exitCode)
  }
}
