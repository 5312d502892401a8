import {Args, Flags} from '@oclif/core'

import type {VerifyJson} from '../../cli/json-results.js'

import {commandExamples} from '../../cli/command-examples.js'
import {durationFlag} from '../../cli/duration-flag.js'
import {backupsPathFlag, identityFlag, LibraryCommand} from '../../cli/library-command.js'
import {metricsFileFlag} from '../../cli/metrics-flag.js'
import {loadIdentities} from '../../lib/encryption/encrypted-archives.js'
import {LibraryBackupError} from '../../lib/errors.js'
import {formatCount} from '../../lib/format.js'
import {type BackupCheck, staleError, verifyBackups} from '../../lib/verify.js'

export default class LibraryVerify extends LibraryCommand {
  static summary = 'Check that backups would restore, without touching the library.'
  static description = `Checks each backup as a restore would (structure, metadata, size, sha256 and SQLite's quick_check of the database, extracted into a temporary directory), every backup in the backup directory unless BACKUP paths are given. --quick checks the structure only. --max-age also fails (exit 9) unless the newest backup that verifies is younger than the given age, so one cron line both checks the backups and alarms when they stopped; with no backup at all, --max-age exits 9 too (without it, 1). When some backups fail and the newest good one is also too old, the exit is 3 (a broken backup is the more urgent news) and the JSON still says fresh: false.

--quick reads the gzip members' headers and trailers and the tar headers without inflating the database: it finds a truncated file, bytes appended, a damaged member header, a wrong size or a missing member, but not damage inside the compressed database (a member's CRC is only checked when it is inflated). Archives written by VPO's Python tool have no index and are read through. Run a full verify for the guarantee a restore gives.`
  static strict = false
  static args = {
    backup: Args.string({
      description: 'Backup archives to check (paths or s3:// URLs); default: every backup in the backup directory.',
    }),
  }
  static examples = commandExamples([
    ['Check every backup in ~/.vpo/backups.', ''],
    ['Check the newest backup, and fail unless it is less than 26 hours old (cron).', '--latest --max-age 26h'],
    ['Check the structure of every backup quickly.', '--quick'],
    ['Check one archive.', '/mnt/nas/vpo/library.tar.gz'],
  ])
  static flags = {
    path: backupsPathFlag('Directory (or s3:// prefix) of the backups to check instead of the backup directory.'),
    latest: Flags.boolean({
      summary: 'Check only the newest backup made on purpose (a pre-restore safety backup is not one).',
    }),
    quick: Flags.boolean({summary: 'Check the structure only (gzip members and tar headers), not the database.'}),
    'max-age': durationFlag({
      summary: 'Fail with exit 9 unless the newest good backup is younger than this: 26h, 2d, 1w.',
    }),
    identity: identityFlag,
    'metrics-file': metricsFileFlag,
  }

  async run(): Promise<VerifyJson> {
    const {argv, flags} = await this.parse(LibraryVerify)
    // As for restore: --latest chooses from a directory, so a named archive would be silently ignored.
    if (flags.latest && argv.length > 0) {
      throw new LibraryBackupError(
        'USAGE_ERROR',
        `--latest checks the newest backup in the backup directory, so it takes no BACKUP (${String(argv[0])} was given)`,
        {
          hint: 'Pass either BACKUP paths or --latest (with --path for another directory).',
        },
      )
    }

    const maxAge = flags['max-age']
    const report = await verifyBackups({
      archives: argv as string[],
      location: flags.path ?? this.location().backupDir,
      latest: flags.latest,
      quick: flags.quick,
      maxAge,
      keys: {identities: await loadIdentities({identity: flags.identity})},
    })

    const failed = report.checks.filter((entry) => !entry.ok && !entry.locked)
    const locked = report.checks.filter((entry) => entry.locked)
    this.metricValues = {
      vpo_backup_failed_archives: failed.length,
      ...(report.newestGood
        ? {vpo_backup_newest_verified_timestamp_seconds: Date.parse(report.newestGood.metadata!.created_at) / 1000}
        : {}),
    }
    const failure =
      failed.length > 0
        ? new LibraryBackupError(
            'INVALID_ARCHIVE',
            `${formatCount(failed.length)} of ${formatCount(report.checks.length)} backups did not verify`,
            {
              hint: 'Make a new backup now (vpo library:backup), and keep or replace the failed ones as you see fit.',
            },
          )
        : locked.length > 0
          ? lockedError(locked, report.checks.length)
          : report.fresh === false
            ? staleError(report, maxAge!)
            : undefined

    if (report.directory)
      this.logSafe(
        `Checked ${formatCount(report.checks.length)} backup${report.checks.length === 1 ? '' : 's'} in ${report.directory}${flags.quick ? ' (structure only)' : ''}`,
      )
    for (const entry of report.checks) this.logSafe(line(entry))
    if (report.newestGood)
      this.logSafe(`Newest good backup: ${report.newestGood.path} (${report.newestGood.metadata!.created_at})`)
    if (report.futureDated)
      this.logSafe(
        `Dated in the future: ${report.futureDated.path} (${report.futureDated.metadata!.created_at}), so it is not counted as the newest`,
      )

    const json: VerifyJson = {
      success: failure === undefined,
      ...(report.directory ? {directory: report.directory} : {}),
      quick: Boolean(flags.quick),
      backups: report.checks.map((entry) => ({
        path: entry.path,
        ok: entry.ok,
        created_at: entry.metadata?.created_at ?? null,
        checksum_verified: entry.checksumVerified ?? false,
        ...(entry.problem ? {problem: entry.problem} : {}),
        ...(entry.locked ? {locked: true as const} : {}),
      })),
      newest_good: report.newestGood
        ? {path: report.newestGood.path, created_at: report.newestGood.metadata!.created_at}
        : null,
      ...(report.futureDated
        ? {future_dated: {path: report.futureDated.path, created_at: report.futureDated.metadata!.created_at}}
        : {}),
      ...(maxAge ? {fresh: report.fresh ?? false} : {}),
    }
    if (failure) this.failWith(failure, json)
    return json
  }
}

/** The key error itself for one backup; for several, how many, with the same next step. */
function lockedError(locked: BackupCheck[], total: number): LibraryBackupError {
  if (locked.length === 1) return locked[0].locked!
  return new LibraryBackupError(
    'KEY_ERROR',
    `${formatCount(locked.length)} of ${formatCount(total)} backups are encrypted and were not opened, so they were not verified (${locked.map((entry) => entry.path).join(', ')})`,
    {hint: locked[0].locked!.hint},
  )
}

function line(entry: BackupCheck): string {
  if (entry.locked) return `  LOCKED  ${entry.problem}`
  if (!entry.ok) return `  FAILED  ${entry.problem}`
  const metadata = entry.metadata!
  const checksum = entry.checksumVerified ? ', sha256 verified' : ''
  return `  ok      ${entry.path} (${metadata.created_at}, ${formatCount(metadata.file_count)} files${checksum})`
}
