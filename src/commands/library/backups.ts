import type {BackupsJson} from '../../cli/json-results.js'

import {commandExamples} from '../../cli/command-examples.js'
import {backupsPathFlag, identityFlag, LibraryCommand} from '../../cli/library-command.js'
import {escapeForTerminal} from '../../cli/ui/terminal-text.js'
import {loadIdentities} from '../../lib/encryption/encrypted-archives.js'
import {formatBytes, formatCount} from '../../lib/format.js'
import {formatCreatedAt, parseBackupName} from '../../lib/repository/backup-names.js'
import {listBackups, type ListedBackup} from '../../lib/repository/listing.js'
import {openTarget} from '../../lib/storage/locations.js'

const KIND_MARKS = {regular: '', custom: '', 'pre-restore': ' (safety)', damaged: ' (damaged)'} as const

export default class LibraryBackups extends LibraryCommand {
  static summary = 'List the backup archives in the backup directory, newest first.'
  static description = `Reads only the head of each archive (its metadata) and checks from its gzip member headers that it is whole, so listing is quick even for large backups. Archives that cannot be read, or are truncated, are still listed, marked unreadable; pre-restore safety backups are marked as such.`
  static examples = commandExamples([
    ['List backups in ~/.vpo/backups.', ''],
    ['List backups kept somewhere else.', '--path /mnt/nas/vpo-backups'],
    [
      'List backups in a bucket, reading the metadata of encrypted ones.',
      '--path s3://my-bucket/vpo/ --identity ~/.config/vpo/backup-key.txt',
    ],
    ['Machine-readable listing.', '--json'],
  ])
  static flags = {
    path: backupsPathFlag('Directory (or s3:// prefix) to list instead of the backup directory.'),
    identity: identityFlag,
  }

  async run(): Promise<BackupsJson> {
    const {flags} = await this.parse(LibraryBackups)
    const identities = await loadIdentities({identity: flags.identity})
    const listing = await listBackups(await openTarget(flags.path ?? this.location().backupDir), {identities})

    if (listing.backups.length === 0) {
      this.logSafe(`No backups found in ${listing.directory}`)
      this.log('Create a backup with: vpo library:backup')
    } else {
      this.log(renderTable(listing.backups))
      // Why each unreadable one cannot be used: a truncated file says so here, not only in --json.
      for (const entry of listing.backups)
        if (entry.problem && !entry.locked) this.logSafe(`Unreadable: ${entry.problem}`)
      this.log('')
      this.log(
        `Total: ${formatCount(listing.backups.length)} backup${listing.backups.length === 1 ? '' : 's'} (${formatBytes(listing.totalSizeBytes)})`,
      )
    }

    return {
      directory: listing.directory,
      total_count: listing.backups.length,
      total_size_bytes: listing.totalSizeBytes,
      backups: listing.backups.map((entry) => ({
        filename: entry.filename,
        path: entry.path,
        kind: entry.kind,
        encrypted: entry.encrypted,
        created_at: createdAt(entry),
        archive_size_bytes: entry.archiveSizeBytes,
        database_size_bytes: entry.metadata?.database_size_bytes ?? null,
        file_count: entry.metadata?.file_count ?? null,
        total_library_size_bytes: entry.metadata?.total_library_size_bytes ?? null,
        schema_version: entry.metadata?.schema_version ?? null,
        readable: entry.metadata !== null,
        whole: entry.whole,
        ...(entry.problem ? {problem: entry.problem} : {}),
        ...(entry.locked ? {locked: true as const} : {}),
      })),
    }
  }
}

/**
 * When the backup was made: from its metadata, or for a locked (encrypted, no key) archive from its
 * stamped name, so a listing without the key still says which backup is which. A custom name carries
 * no time, and a file's mtime is not when it was made.
 */
function createdAt(entry: ListedBackup): null | string {
  if (entry.metadata) return entry.metadata.created_at
  const time = entry.locked ? parseBackupName(entry.filename)?.time : undefined
  return time ? formatCreatedAt(time) : null
}

function renderTable(backups: ListedBackup[]): string {
  const rows = backups.map((entry) => [
    escapeForTerminal(entry.filename) + KIND_MARKS[entry.kind],
    entry.metadata || entry.locked
      ? (createdAt(entry)?.slice(0, 16).replace('T', ' ') ?? '?') + (entry.locked ? ' (encrypted)' : '')
      : 'unreadable',
    formatBytes(entry.archiveSizeBytes),
    entry.metadata ? formatCount(entry.metadata.file_count) : '-',
    entry.metadata ? String(entry.metadata.schema_version) : '-',
  ])
  const header = ['Filename', 'Created (UTC)', 'Size', 'Files', 'Schema']
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)))
  const rightAligned = new Set([2, 3, 4])
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => (rightAligned.has(column) ? cell.padStart(widths[column]) : cell.padEnd(widths[column])))
      .join('  ')
      .trimEnd()
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map((row) => line(row))].join('\n')
}
