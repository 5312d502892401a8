import {Flags} from '@oclif/core'

import type {PruneJson} from '../../cli/json-results.js'

import {commandExamples} from '../../cli/command-examples.js'
import {backupsPathFlag, LibraryCommand} from '../../cli/library-command.js'
import {metricsFileFlag} from '../../cli/metrics-flag.js'
import {retentionFlags, retentionPolicy} from '../../cli/retention-flags.js'
import {shrinkFlags, shrinkOptions} from '../../cli/shrink-flags.js'
import {escapeForTerminal} from '../../cli/ui/terminal-text.js'
import {LibraryBackupError} from '../../lib/errors.js'
import {formatCount} from '../../lib/format.js'
import {applyPrune, dryRunReport, planPrune} from '../../lib/prune.js'
import {describePolicy} from '../../lib/repository/retention.js'
import {checkPruneShrink} from '../../lib/repository/shrink-runs.js'
import {openTarget} from '../../lib/storage/locations.js'

export default class LibraryPrune extends LibraryCommand {
  static summary = 'Delete old regular backups by retention rules, as restic forget does.'
  static description = `A backup is kept when any rule keeps it: --keep-daily/weekly/monthly/yearly N keep the newest backup of each of the last N days, ISO weeks, months or years that have one (UTC). Only regular backups are candidates: the newest readable backup, pre-restore safety backups, damaged backups and any other file are never deleted, nor, while a drop in the library's file count is not accepted (--accept-shrink), the last backup before it. At least one rule is required.`
  static examples = commandExamples([
    ['Keep 7 daily, 4 weekly and 6 monthly backups.', '--keep-daily 7 --keep-weekly 4 --keep-monthly 6'],
    ['Show what would be removed, removing nothing.', '--keep-within 30d --dry-run'],
    ['Prune backups kept somewhere else.', '--path /mnt/nas/vpo-backups --keep-last 10'],
  ])
  static flags = {
    path: backupsPathFlag('Directory (or s3:// prefix) to prune instead of the backup directory.'),
    ...retentionFlags,
    'dry-run': Flags.boolean({summary: 'Show what would be kept and removed, removing nothing.'}),
    ...shrinkFlags,
    'metrics-file': metricsFileFlag,
  }

  async run(): Promise<PruneJson> {
    const {flags} = await this.parse(LibraryPrune)
    const policy = retentionPolicy(flags)
    if (!policy) {
      throw new LibraryBackupError('USAGE_ERROR', 'No retention rule was given, so nothing can be pruned', {
        hint: 'Pass at least one of --keep-last, --keep-daily, --keep-weekly, --keep-monthly, --keep-yearly or --keep-within.',
      })
    }

    const {backupDir, dataDir} = this.location()
    const target = await openTarget(flags.path ?? backupDir)
    const shrink = await checkPruneShrink(target, {...shrinkOptions(flags, dataDir), dryRun: flags['dry-run']})
    const plan = await planPrune(target, policy, {
      signal: this.signal,
      protect: shrink.protect,
      listing: shrink.listing,
    })
    const report = flags['dry-run'] ? dryRunReport(plan) : await applyPrune(plan, {signal: this.signal})
    const warnings = [...shrink.warnings, ...shrink.finish(report.removed)]
    const policyText = describePolicy(policy)
    this.logSafe(
      `${report.dryRun ? `Would ${policyText}` : policyText[0].toUpperCase() + policyText.slice(1)} in ${target.location}:`,
    )
    const removeLabel = report.dryRun ? 'would remove' : 'remove'
    const width = Math.max('keep'.length, removeLabel.length)
    for (const decision of report.decisions) {
      const name = escapeForTerminal(decision.backup.filename)
      this.log(
        decision.keep
          ? `  ${'keep'.padEnd(width)}  ${name}  (${decision.reasons.map((reason) => escapeForTerminal(reason)).join(', ')})`
          : `  ${removeLabel.padEnd(width)}  ${name}`,
      )
    }

    if (shrink.accepted)
      this.log(
        `Accepted the drop from ${formatCount(shrink.accepted.from.fileCount)} to ${formatCount(shrink.accepted.to.fileCount)} files (--accept-shrink).`,
      )
    for (const warning of warnings) this.warn(escapeForTerminal(warning))
    this.log(
      `${report.kept.length} kept, ${report.removed.length} ${report.dryRun ? 'would be removed (dry run: nothing was removed)' : 'removed'}.`,
    )
    return {
      success: true,
      dry_run: report.dryRun,
      directory: target.location,
      kept: report.decisions
        .filter((decision) => decision.keep)
        .map((decision) => ({path: decision.backup.path, reasons: decision.reasons})),
      removed: report.removed,
    }
  }
}
