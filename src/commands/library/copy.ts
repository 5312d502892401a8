import {Args, Flags} from '@oclif/core'

import type {CopyJson} from '../../cli/json-results.js'

import {commandExamples} from '../../cli/command-examples.js'
import {LibraryCommand} from '../../cli/library-command.js'
import {repeatableFlag} from '../../cli/repeatable-flag.js'
import {applyCopy, copyOutcome, type CopyReport, dryRunReport, planCopy} from '../../lib/copy.js'
import {loadRecipients} from '../../lib/encryption/encrypted-archives.js'
import {formatBytes} from '../../lib/format.js'

export default class LibraryCopy extends LibraryCommand {
  static summary = 'Copy backups to another directory or bucket: whatever is missing there.'
  static description = `Copies every regular and pre-restore safety backup in the backup directory (or --from) that is not yet at --to; custom-named backups only when named. Each archive is checked before it is sent (as library:verify --quick checks it; an encrypted one by its age header and size, no key needed), appears at --to under the same name only once whole, and is compared byte for byte after it arrives. A damaged archive is not copied (exit 3, the others still are); a different file already under the same name is left alone (exit 1). Running it again copies nothing.

With --encrypt-to or --recipients-file (or $VPO_BACKUP_RECIPIENTS_FILE), plain archives are encrypted on the way and arrive as ….tar.gz.age; one already there under either name counts as copied, and encrypted archives travel as they are.`
  static strict = false
  static args = {
    backup: Args.string({
      description:
        'Backups to copy: names in the backup directory (or --from), paths or s3:// URLs; default: every regular and safety backup.',
    }),
  }
  static examples = commandExamples([
    ['Fill a new bucket with every backup made so far.', '--to s3://my-bucket/vpo/'],
    [
      'After the nightly backup, send the newest one offsite, encrypted.',
      '--latest --to s3://my-bucket/vpo/ --encrypt-to age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p',
    ],
    ['Show what would be copied to a USB disk, copying nothing.', '--to /media/usb/vpo-backups --dry-run'],
    [
      'Copy one custom-named backup from a bucket to a local directory.',
      'vpo-library-weekly.tar.gz --from s3://my-bucket/vpo/ --to /mnt/nas/vpo',
    ],
  ])
  static flags = {
    to: Flags.string({
      summary: 'Directory or s3:// prefix to copy the backups to.',
      helpValue: 'LOCATION',
      required: true,
    }),
    from: Flags.string({
      summary: 'Directory or s3:// prefix to copy from instead of the backup directory.',
      helpValue: 'LOCATION',
    }),
    latest: Flags.boolean({summary: 'Copy only the newest regular backup.'}),
    'dry-run': Flags.boolean({summary: 'Show what would be copied and what is already there, copying nothing.'}),
    'encrypt-to': repeatableFlag({
      summary:
        'Encrypt plain archives on the way (age) to this recipient: an age1… key or an SSH public key; repeatable.',
      helpValue: 'RECIPIENT',
    }),
    'recipients-file': Flags.string({
      summary: 'Encrypt plain archives on the way to the recipients listed in this file.',
      helpValue: 'FILE',
    }),
  }

  async run(): Promise<CopyJson> {
    const {argv, flags} = await this.parse(LibraryCopy)
    const plan = await planCopy({
      archives: argv as string[],
      from: flags.from ?? this.location().backupDir,
      to: flags.to,
      latest: flags.latest,
      signal: this.signal,
      recipients: await loadRecipients({encryptTo: flags['encrypt-to'], recipientsFile: flags['recipients-file']}),
    })
    const report = flags['dry-run'] ? dryRunReport(plan) : await applyCopy(plan, {signal: this.signal})
    this.render(report)
    const json = toJson(report)
    const failure = copyOutcome(report)
    if (failure) this.failWith(failure, json)
    return json
  }

  private render(report: CopyReport): void {
    const verb = report.dryRun ? 'would copy' : 'copied'
    for (const entry of report.copied) {
      const how = entry.encryptedOnTheWay ? ', encrypted on the way' : ''
      this.logSafe(`  ${verb.padEnd(10)}  ${entry.to}  (${formatBytes(entry.sizeBytes)}${how})`)
    }

    for (const entry of report.skipped) this.logSafe(`  ${'present'.padEnd(10)}  ${entry.path}  (${entry.reason})`)
    for (const entry of report.failed)
      this.logSafe(`  ${'not copied'.padEnd(10)}  ${entry.from}  (${entry.error.message})`)
    const counts = `${report.copied.length} ${verb}, ${report.skipped.length} already there, ${report.failed.length} not copied`
    this.logSafe(`${counts}${report.dryRun ? ' (dry run: nothing was copied)' : ''}: ${report.from} -> ${report.to}`)
  }
}

function toJson(report: CopyReport): CopyJson {
  return {
    success: !copyOutcome(report),
    dry_run: report.dryRun,
    from: report.from,
    to: report.to,
    copied: report.copied.map((entry) => ({
      name: entry.name,
      from: entry.from,
      path: entry.to,
      size_bytes: entry.sizeBytes,
      encrypted_on_the_way: entry.encryptedOnTheWay,
    })),
    skipped: report.skipped.map((entry) => ({name: entry.name, path: entry.path, reason: entry.reason})),
    failed: report.failed.map((entry) => ({name: entry.name, from: entry.from, error: entry.error.toJSON()})),
  }
}
