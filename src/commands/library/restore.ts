import {Args, Flags} from '@oclif/core'

import {LibraryBackupError} from '../../lib/errors.js'
import {formatBytes, formatCount, formatDuration} from '../../lib/format.js'
import {restoreBackup} from '../../lib/restore.js'
import {databaseFlag, LibraryCommand} from '../../library-command.js'
import {askYesNo} from '../../ui/confirm.js'
import {progressLine} from '../../ui/progress.js'

const PHASE_LABELS = {extract: 'Extracting', 'safety-backup': 'Saving safety backup', verify: 'Verifying'} as const

export default class LibraryRestore extends LibraryCommand {
  static summary = 'Restore the VPO library database from a backup archive.'
static description = `Validates the whole archive first (format, members, metadata, size, checksum and SQLite's quick_check), saves the current library as a pre-restore backup, then swaps the restored database into place atomically: an interruption at any point leaves either the old library or the new one, whole.`
static args = {
    backup_file: Args.string({description: 'Path of the .tar.gz backup archive to restore.', required: true}),
  }
static examples = [
    {description: 'Restore, asking for confirmation first.', command: '<%= config.bin %> <%= command.id %> ~/.vpo/backups/vpo-library-2026-02-05T143022Z.tar.gz'},
    {description: 'Restore without a prompt (scripts).', command: '<%= config.bin %> <%= command.id %> --yes /mnt/nas/vpo/library.tar.gz'},
    {description: 'Validate an archive and show its metadata, changing nothing.', command: '<%= config.bin %> <%= command.id %> --dry-run backup.tar.gz'},
  ]
static flags = {
    yes: Flags.boolean({char: 'y', summary: 'Replace the current library without asking.'}),
    'dry-run': Flags.boolean({summary: 'Validate the archive fully and show its metadata, without changing anything.'}),
    db: databaseFlag,
    'no-safety-backup': Flags.boolean({summary: 'Do not save the current library as a pre-restore backup first.'}),
  }

  async run() {
    const {args, flags} = await this.parse(LibraryRestore)
    const {databasePath, backupDir} = this.location(flags.db)
    const progress = progressLine(this.showProgress)
    const result = await restoreBackup({
      archivePath: args.backup_file,
      databasePath,
      backupDir,
      supportedSchemaVersion: this.supportedSchemaVersion,
      vpoVersion: this.vpoVersion,
      dryRun: flags['dry-run'],
      safetyBackup: !flags['no-safety-backup'],
      async confirm({databasePath, metadata}) {
        if (flags.yes) return true
        if (!process.stdin.isTTY) {
          throw new LibraryBackupError(
            'CONFIRMATION_REQUIRED',
            `Restoring would replace the library at ${databasePath} and there is no terminal to confirm on; pass --yes to restore without asking.`,
          )
        }

        progress.clear()
        return askYesNo(`Replace the library at ${databasePath} with the backup from ${metadata.created_at} (${formatCount(metadata.file_count)} files)?`)
      },
      onWarning: (message) => this.warn(message),
      onProgress: (phase, done, total) => progress.update(PHASE_LABELS[phase], done, total),
    }).finally(() => progress.clear())

    const {metadata} = result
    const schema = `${metadata.schema_version} (current: ${result.currentSchemaVersion})`
    if (result.dryRun) {
      this.log(`Backup: ${result.sourcePath}`)
      this.log(`  VPO version:   ${metadata.vpo_version}`)
      this.log(`  Created:       ${metadata.created_at}`)
      this.log(`  Schema:        ${schema}`)
      this.log(`  Database size: ${formatBytes(metadata.database_size_bytes)}`)
      this.log(`  Files:         ${formatCount(metadata.file_count)}`)
      this.log(`  Checksum:      ${result.checksumVerified ? 'verified (sha256)' : 'absent (the archive has none); size and quick_check verified'}`)
      this.log(`  Would restore to: ${result.databasePath}`)
      this.log('No changes made (dry run).')
    } else {
      this.log(`Restored from: ${result.sourcePath}`)
      this.log(`  Created: ${metadata.created_at}`)
      this.log(`  Files:   ${formatCount(metadata.file_count)}`)
      this.log(`  Schema:  ${schema}`)
      this.log(`Library restored to: ${result.databasePath}`)
      this.log(result.safetyBackupPath ? `  Safety backup: ${result.safetyBackupPath}` : '  Safety backup: none')
      this.log(`  Duration: ${formatDuration(result.durationSeconds)}`)
    }

    return {
      success: true,
      ...(result.dryRun ? {dry_run: true, vpo_version: metadata.vpo_version, database_size_bytes: metadata.database_size_bytes} : {}),
      source_path: result.sourcePath,
      database_path: result.databasePath,
      created_at: metadata.created_at,
      file_count: metadata.file_count,
      schema_version: metadata.schema_version,
      current_schema_version: result.currentSchemaVersion,
      schema_mismatch: result.schemaMismatch,
      checksum_verified: result.checksumVerified,
      safety_backup_path: result.safetyBackupPath ?? null,
      duration_seconds: Math.round(result.durationSeconds * 1000) / 1000,
    }
  }
}
