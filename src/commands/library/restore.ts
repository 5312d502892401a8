import {Args, Flags} from '@oclif/core'

import type {RestoreJson, RestorePlanJson, RestoreSkippedJson} from '../../cli/json-results.js'

import {commandExamples} from '../../cli/command-examples.js'
import {backupsPathFlag, databaseFlag, identityFlag, LibraryCommand} from '../../cli/library-command.js'
import {askYesNo} from '../../cli/ui/confirm.js'
import {progressLine} from '../../cli/ui/progress.js'
import {escapeForTerminal} from '../../cli/ui/terminal-text.js'
import {loadIdentities} from '../../lib/encryption/encrypted-archives.js'
import {LibraryBackupError} from '../../lib/errors.js'
import {formatBytes, formatCount, formatSeconds} from '../../lib/format.js'
import {chooseBackup} from '../../lib/repository/choose-backup.js'
import {libraryExists, planRestore, restoreBackup, type RestoreResult} from '../../lib/restore.js'

const PHASE_LABELS = {extract: 'Extracting', 'safety-backup': 'Saving safety backup', verify: 'Verifying'} as const

export default class LibraryRestore extends LibraryCommand {
  static summary = 'Restore the VPO library database from a backup archive.'
  static description = `Validates the whole archive first (format, members, metadata, size, checksum and SQLite's quick_check), saves the current library as a pre-restore backup, then swaps the restored database into place atomically: an interruption at any point leaves either the old library or the new one, whole.`
  static args = {
    backup_file: Args.string({
      description: 'The backup archive to restore (a path or an s3:// URL); omit it with --latest.',
    }),
  }
  static examples = commandExamples([
    ['Restore, asking for confirmation first.', '~/.vpo/backups/vpo-library-2026-02-05T143022Z.tar.gz'],
    ['Restore without a prompt (scripts).', '--yes /mnt/nas/vpo/library.tar.gz'],
    ['Validate an archive and show its metadata, changing nothing.', '--dry-run backup.tar.gz'],
    [
      "A container's first start: restore the newest backup only when there is no library yet.",
      '--latest --yes --if-db-not-exists --if-backup-exists',
    ],
  ])
  static flags = {
    yes: Flags.boolean({char: 'y', summary: 'Replace the current library without asking.'}),
    'dry-run': Flags.boolean({summary: 'Validate the archive fully and show its metadata, without changing anything.'}),
    db: databaseFlag,
    'no-safety-backup': Flags.boolean({summary: 'Do not save the current library as a pre-restore backup first.'}),
    latest: Flags.boolean({summary: 'Restore the newest readable backup in the backup directory (or --path).'}),
    path: backupsPathFlag('With --latest: the directory (or s3:// prefix) to take it from.', {dependsOn: ['latest']}),
    'if-db-not-exists': Flags.boolean({
      summary: 'Do nothing (exit 0) when a library already exists: for a container entrypoint.',
    }),
    'if-backup-exists': Flags.boolean({summary: 'Do nothing (exit 0) when there is no backup to restore.'}),
    identity: identityFlag,
  }

  async run(): Promise<RestoreJson | RestorePlanJson | RestoreSkippedJson> {
    const {args, flags} = await this.parse(LibraryRestore)
    // Usage mistakes first, so that --if-db-not-exists or --if-backup-exists never hides them behind
    // an exit 0. (oclif's `exclusive` relates flags to flags only, not to arguments.)
    if (flags.latest && args.backup_file !== undefined) {
      throw new LibraryBackupError(
        'USAGE_ERROR',
        `--latest restores the newest backup, so it takes no BACKUP_FILE (${args.backup_file} was given)`,
        {
          hint: 'Pass either BACKUP_FILE or --latest.',
        },
      )
    }

    if (!flags.latest && args.backup_file === undefined) {
      throw new LibraryBackupError('USAGE_ERROR', 'No backup was named', {
        hint: 'Pass BACKUP_FILE, or --latest to restore the newest backup.',
      })
    }

    const {databasePath, backupDir, dataDir} = this.location(flags.db)
    if (flags['if-db-not-exists'] && libraryExists(databasePath))
      return this.skip(`A library already exists at ${databasePath}; nothing was restored (--if-db-not-exists).`)
    const identities = await loadIdentities({identity: flags.identity})
    const chosen = await chooseBackup({
      archive: args.backup_file,
      identities,
      latest: flags.latest,
      location: flags.path ?? backupDir,
      dataDir,
    })
    if ('error' in chosen) {
      if (flags['if-backup-exists']) return this.skip(`${chosen.missing}; nothing was restored (--if-backup-exists).`)
      throw chosen.error
    }

    if (chosen.warning) this.warn(escapeForTerminal(chosen.warning))

    const progress = progressLine(this.showProgress)
    const keys = {identities}
    const common = {
      keys,
      archive: chosen.archive,
      databasePath,
      backupDir,
      supportedSchemaVersion: this.supportedSchemaVersion,
      vpoVersion: this.vpoVersion,
      onWarning: (message: string) => this.warn(escapeForTerminal(message)),
      onProgress: (phase: keyof typeof PHASE_LABELS, done: number, total: number) =>
        progress.update(PHASE_LABELS[phase], done, total),
      safetyBackup: !flags['no-safety-backup'],
      signal: this.signal,
    }

    if (flags['dry-run']) {
      const result = await planRestore(common).finally(() => progress.clear())
      this.renderPlan(result)
      return {
        ...this.toJson(result),
        dry_run: true,
        vpo_version: result.metadata.vpo_version,
        database_size_bytes: result.metadata.database_size_bytes,
        safety_backup_path: null,
      }
    }

    const result = await restoreBackup({
      ...common,
      async confirm({databasePath, metadata}) {
        if (flags.yes) return true
        if (!process.stdin.isTTY) {
          throw new LibraryBackupError(
            'CONFIRMATION_REQUIRED',
            `Restoring would replace the library at ${databasePath} and there is no terminal to confirm on`,
            {
              hint: 'Pass --yes to restore without asking.',
            },
          )
        }

        progress.clear()
        return askYesNo(
          escapeForTerminal(
            `Replace the library at ${databasePath} with the backup from ${metadata.created_at} (${formatCount(metadata.file_count)} files)?`,
          ),
        )
      },
    }).finally(() => progress.clear())

    this.logSafe(`Restored from: ${result.sourcePath}`)
    this.logSafe(`  Created: ${result.metadata.created_at}`)
    this.log(`  Files:   ${formatCount(result.metadata.file_count)}`)
    this.log(`  Schema:  ${schemaLine(result)}`)
    this.logSafe(`Library restored to: ${result.databasePath}`)
    this.logSafe(result.safetyBackupPath ? `  Safety backup: ${result.safetyBackupPath}` : '  Safety backup: none')
    this.log(`  Duration: ${formatSeconds(result.durationSeconds)}`)
    return this.toJson(result)
  }

  private skip(reason: string): RestoreSkippedJson {
    this.logSafe(reason)
    return {success: true, restored: false, reason}
  }

  private renderPlan(result: RestoreResult): void {
    const {metadata} = result
    this.logSafe(`Backup: ${result.sourcePath}`)
    this.logSafe(`  VPO version:   ${metadata.vpo_version}`)
    this.logSafe(`  Created:       ${metadata.created_at}`)
    this.log(`  Schema:        ${schemaLine(result)}`)
    this.log(`  Database size: ${formatBytes(metadata.database_size_bytes)}`)
    this.log(`  Files:         ${formatCount(metadata.file_count)}`)
    this.log(
      `  Checksum:      ${result.checksumVerified ? 'verified (sha256)' : 'absent (the archive has none); size and quick_check verified'}`,
    )
    this.logSafe(`  Would restore to: ${result.databasePath}`)
    this.log('No changes made (dry run).')
  }

  private toJson(result: RestoreResult): RestoreJson {
    return {
      success: true,
      source_path: result.sourcePath,
      database_path: result.databasePath,
      created_at: result.metadata.created_at,
      file_count: result.metadata.file_count,
      total_library_size_bytes: result.metadata.total_library_size_bytes,
      schema_version: result.metadata.schema_version,
      current_schema_version: result.currentSchemaVersion,
      schema_mismatch: result.schemaMismatch,
      checksum_verified: result.checksumVerified,
      safety_backup_path: result.safetyBackupPath ?? null,
      duration_seconds: Math.round(result.durationSeconds * 1000) / 1000,
    }
  }
}

function schemaLine(result: RestoreResult): string {
  return `${result.metadata.schema_version} (current: ${result.currentSchemaVersion})`
}
