import {Flags} from '@oclif/core'

import type {BackupJson, BackupPlanJson, BackupShrankJson} from '../../cli/json-results.js'

import {commandExamples} from '../../cli/command-examples.js'
import {databaseFlag, LibraryCommand} from '../../cli/library-command.js'
import {metricsFileFlag} from '../../cli/metrics-flag.js'
import {repeatableFlag} from '../../cli/repeatable-flag.js'
import {retentionFlags, retentionPolicy} from '../../cli/retention-flags.js'
import {shrinkFlags, shrinkOptions} from '../../cli/shrink-flags.js'
import {progressLine} from '../../cli/ui/progress.js'
import {escapeForTerminal} from '../../cli/ui/terminal-text.js'
import {applyBackup, type BackupPreview, type BackupResult, planBackup, previewBackup} from '../../lib/backup.js'
import {loadRecipients} from '../../lib/encryption/encrypted-archives.js'
import {formatBytes, formatCount} from '../../lib/format.js'
import {placesFailure} from '../../lib/repository/backup-copies.js'
import {libraryShrank} from '../../lib/repository/shrink-runs.js'

const PHASE_LABELS = {snapshot: 'Taking snapshot', compress: 'Compressing', upload: 'Uploading'} as const

export default class LibraryBackup extends LibraryCommand {
  static summary = 'Create a compressed backup archive of the VPO library database.'
  static description = `Takes a consistent snapshot of the library with SQLite's online backup API (changes still in the write-ahead log included, the live database untouched), checks it with SQLite's quick_check, and writes it with its metadata to a .tar.gz archive, by default in <data dir>/backups. The archive appears under its final name only once it is complete.`
  static examples = commandExamples([
    ['Back up to ~/.vpo/backups with a timestamped name.', ''],
    ['Back up to a file of your choice.', '--output /mnt/nas/vpo/library.tar.gz'],
    ['Show what a backup would do, without writing anything.', '--dry-run'],
    ['Back up and keep only the 7 newest backups.', '--keep 7'],
    [
      'Back up nightly and keep 7 daily, 4 weekly and 6 monthly backups.',
      '--keep-daily 7 --keep-weekly 4 --keep-monthly 6',
    ],
    [
      'Encrypt the backup with age to a public key, and keep it offsite.',
      '--encrypt-to age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p --output s3://my-bucket/vpo/',
    ],
    [
      'Nightly 3-2-1: one backup, also on a USB disk and in a bucket, 7 daily kept at each place.',
      '--copy-to /media/usb/vpo-backups --copy-to s3://my-bucket/vpo/ --keep-daily 7',
    ],
    [
      "Nightly, for Prometheus: write the outcome for node_exporter's textfile collector.",
      '--keep-daily 7 --metrics-file /var/lib/node_exporter/textfile_collector/vpo-backup.prom',
    ],
    ['The library shrank on purpose (files removed): accept it, and prune as usual.', '--keep-daily 7 --accept-shrink'],
    ['Machine-readable result.', '--json'],
  ])
  static flags = {
    output: Flags.string({char: 'o', summary: 'Archive path, or a directory to put it in.', helpValue: 'PATH'}),
    'dry-run': Flags.boolean({summary: 'Run every check and show what would be written, without writing anything.'}),
    db: databaseFlag,
    force: Flags.boolean({summary: 'Replace the --output file if it already exists.'}),
    keep: Flags.integer({
      min: 1,
      summary: 'After the backup, keep only the N newest regular backups (same as --keep-last).',
      helpValue: 'N',
    }),
    ...retentionFlags,
    'allow-damaged': Flags.boolean({
      summary: "Back up a library that fails SQLite's quick_check anyway, as a …-damaged archive.",
    }),
    'encrypt-to': repeatableFlag({
      summary:
        'Encrypt the archive (age format) to this recipient: an age1… key or an ssh-ed25519/ssh-rsa public key; repeatable.',
      description:
        'The archive is then named ….tar.gz.age and opens with `age -d -i KEY`. Without this flag, $VPO_BACKUP_RECIPIENTS_FILE names a default recipients file.',
      helpValue: 'RECIPIENT',
    }),
    'recipients-file': Flags.string({
      summary: 'Encrypt the archive to the recipients listed in this file (one per line, as age -R reads).',
      helpValue: 'FILE',
    }),
    'copy-to': repeatableFlag({
      summary: 'Also publish the same archive in this directory or s3:// prefix; repeatable.',
      description:
        'The backup is written to its primary location (--output, or the backup directory) first, then copied under the same name to each place, checked there, and the --keep-* rules are applied at every place. A place that fails does not stop the others: the run ends with its exit code and says which places have the backup.',
      helpValue: 'LOCATION',
    }),
    ...shrinkFlags,
    'metrics-file': metricsFileFlag,
  }

  async run(): Promise<BackupJson | BackupPlanJson> {
    const {flags} = await this.parse(LibraryBackup)
    const {databasePath, backupDir, dataDir} = this.location(flags.db)
    const options = {
      databasePath,
      backupDir,
      output: flags.output,
      force: flags.force,
      allowDamaged: flags['allow-damaged'],
      retention: retentionPolicy(flags),
      copyTo: flags['copy-to'],
      shrink: shrinkOptions(flags, dataDir),
      vpoVersion: this.vpoVersion,
      // Recipients are checked before anything is read or written: a typo is a usage error, not a lost night.
      recipients: await loadRecipients({encryptTo: flags['encrypt-to'], recipientsFile: flags['recipients-file']}),
    }

    const plan = await planBackup({...options, signal: this.signal})
    if (flags['dry-run']) return this.showPreview(await previewBackup(plan))

    const progress = progressLine(this.showProgress)
    const result = await applyBackup(plan, {
      signal: this.signal,
      onProgress: (phase, done, total) => progress.update(PHASE_LABELS[phase], done, total),
    }).finally(() => progress.clear())

    this.metricValues = {
      vpo_backup_archive_size_bytes: result.archiveSizeBytes,
      vpo_backup_database_size_bytes: result.metadata.database_size_bytes,
      vpo_backup_library_files: Number(result.metadata.file_count),
    }
    this.showBackup(result, options.recipients?.length ?? 0)
    const json = backupJson(result)
    const alarm = result.shrink?.alarm
    if (alarm) {
      const {maxShrinkPercent} = options.shrink
      this.failWith(libraryShrank(alarm, maxShrinkPercent), {
        ...json,
        shrink: {
          previous_file_count: alarm.from.fileCount,
          file_count: alarm.to.fileCount,
          last_backup_before_drop: alarm.from.path,
          max_shrink_percent: maxShrinkPercent,
        },
      } satisfies Omit<BackupShrankJson, 'error' | 'success'>)
    }

    // A copy place that failed: the backup exists, but not everywhere it should.
    const failure = placesFailure(result.name, result.places)
    if (failure) this.failWith(failure, json)
    return json
  }

  /** --dry-run: what the backup would write, and where. */
  private showPreview(preview: BackupPreview): BackupPlanJson {
    this.log(`Dry run: no backup was written.`)
    this.logSafe(`  Database:       ${preview.databasePath} (${formatBytes(preview.databaseSizeBytes)})`)
    if (preview.unfinishedTransaction)
      this.logSafe(
        `  Rollback:       ${preview.databasePath}-journal holds an unfinished transaction; the backup rolls it back first, as SQLite does when VPO starts, and archives the last committed state (shown here)`,
      )
    this.logSafe(`  Output:         ${preview.outputPath}`)
    this.log(
      `  Estimated size: ${formatBytes(preview.estimatedArchiveSizeBytes.low)} to ${formatBytes(preview.estimatedArchiveSizeBytes.high)}`,
    )
    this.log(`  Files in library: ${formatCount(preview.stats.fileCount)}`)
    this.log(`  Schema version: ${preview.stats.schemaVersion}`)
    for (const place of preview.copyTo) this.logSafe(`  Copy to:        ${place}`)
    const {shrink} = preview
    if (shrink)
      this.logSafe(
        `  Shrink guard:   ${formatCount(shrink.from.fileCount)} files in ${shrink.from.path}, ${formatCount(shrink.fileCount)} now (more than --max-shrink ${shrink.maxShrinkPercent}%): the backup would exit 11 and prune nothing${shrink.keepsFile ? `, and leave ${shrink.from.path} as it is` : ''}`,
      )
    return {
      success: true,
      dry_run: true,
      database_path: preview.databasePath,
      database_size_bytes: preview.databaseSizeBytes,
      output_path: preview.outputPath,
      estimated_archive_size_bytes: preview.estimatedArchiveSizeBytes,
      file_count: preview.stats.fileCount,
      total_library_size_bytes: preview.stats.totalLibrarySizeBytes,
      schema_version: preview.stats.schemaVersion,
      copy_to: preview.copyTo,
      unfinished_transaction: preview.unfinishedTransaction,
      shrink: shrink
        ? {
            previous_file_count: shrink.from.fileCount,
            file_count: shrink.fileCount,
            last_backup_before_drop: shrink.from.path,
            max_shrink_percent: shrink.maxShrinkPercent,
            output_kept: shrink.keepsFile,
          }
        : null,
    }
  }

  private showBackup(result: BackupResult, recipientCount: number): void {
    const {metadata} = result
    if (result.damaged)
      this.warn(`The library fails SQLite's quick_check; it was archived anyway as ${result.path} (--allow-damaged).`)
    this.logSafe(`Backup created: ${result.path}`)
    this.log(`  Database size: ${formatBytes(metadata.database_size_bytes)}`)
    this.log(
      `  Archive size:  ${formatBytes(result.archiveSizeBytes)} (${Math.round(compressionRatio(result) * 100)}% smaller)`,
    )
    // How many, never which: keys stay out of output.
    if (result.encrypted)
      this.log(`  Encrypted:     age, to ${recipientCount} recipient${recipientCount === 1 ? '' : 's'}`)
    this.log(`  Files in library: ${formatCount(metadata.file_count)}`)
    for (const place of result.places.slice(1)) {
      if (place.path) this.logSafe(`  Copied to:     ${place.path}`)
      else this.logSafe(`  Not copied to: ${place.location}`)
    }

    const {accepted} = result.shrink ?? {}
    if (accepted)
      this.log(
        `  Accepted the drop from ${formatCount(accepted.from.fileCount)} to ${formatCount(accepted.to.fileCount)} files (--accept-shrink).`,
      )
    for (const place of result.places)
      for (const pruned of place.pruned) this.logSafe(`  Removed old backup: ${pruned}`)
    for (const warning of result.warnings) this.warn(escapeForTerminal(warning))
  }
}

/** The --json shape of a backup made (the shrink alarm adds its own fields). */
function backupJson(result: BackupResult): BackupJson {
  const {metadata} = result
  return {
    success: true,
    path: result.path,
    archive_size_bytes: result.archiveSizeBytes,
    database_size_bytes: metadata.database_size_bytes,
    compression_ratio: Math.round(compressionRatio(result) * 1000) / 1000,
    file_count: metadata.file_count,
    total_library_size_bytes: metadata.total_library_size_bytes,
    schema_version: metadata.schema_version,
    created_at: metadata.created_at,
    database_sha256: metadata.database_sha256!,
    duration_seconds: Math.round(result.durationSeconds * 1000) / 1000,
    ...(result.damaged ? {damaged: true as const} : {}),
    ...(result.encrypted ? {encrypted: true as const} : {}),
    pruned: result.prune?.removed ?? [],
    // Present with --copy-to: the primary location first, then each place.
    ...(result.places.length > 1
      ? {
          places: result.places.map((place) => ({
            location: place.location,
            primary: place.primary,
            path: place.path ?? null,
            stored: place.path !== undefined,
            pruned: place.pruned,
            ...(place.error ? {error: place.error.toJSON()} : {}),
          })),
        }
      : {}),
  }
}

/** How much smaller the archive is than the database: 0.63 for 63%. */
function compressionRatio({archiveSizeBytes, metadata}: BackupResult): number {
  return metadata.database_size_bytes > 0 ? 1 - archiveSizeBytes / metadata.database_size_bytes : 0
}
