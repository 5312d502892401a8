import fs from 'node:fs'

import type {AgeRecipient} from './encryption/index.js'
import type {BackupTarget, StoredArchive} from './storage/target.js'

import {Cancellation} from './cancellation.js'
import {LibraryBackupError} from './errors.js'
import {compareNewestFirst, isBackupFileName, parseBackupName} from './repository/backup-names.js'
import {latestOf} from './repository/backup-selection.js'
import {type ArchiveRef, copyArchive} from './repository/copy-archive.js'
import {isObjectStoreUrl, locateArchive, openTarget} from './storage/locations.js'

export interface CopyOptions {
  /** Archives named on the command line: names at `from`, paths or s3:// URLs. Empty: every backup. */
  archives: string[]
  /** The backup directory or s3:// prefix to copy from. */
  from: string
  to: string
  /** Only the newest regular backup at `from`. */
  latest?: boolean
  dryRun?: boolean
  /** Encrypt plain archives on the way. */
  recipients?: AgeRecipient[]
  /** Aborting it stops the copy in flight (it then rejects with `Interrupted`); copies done stay. */
  signal?: AbortSignal
}

export interface CopiedEntry {
  name: string
  from: string
  to: string
  sizeBytes: number
  encryptedOnTheWay: boolean
}

export interface SkippedEntry {
  name: string
  /** The copy already at the destination. */
  path: string
  reason: string
}

export interface FailedEntry {
  name: string
  from: string
  error: LibraryBackupError
}

export interface CopyReport {
  from: string
  to: string
  dryRun: boolean
  /** Copied, or with --dry-run, would be copied. */
  copied: CopiedEntry[]
  skipped: SkippedEntry[]
  /** Damaged sources and conflicts: the others were still copied. */
  failed: FailedEntry[]
  /** A failure that stopped the run (the destination is full or unreachable): what was done stays. */
  stoppedBy?: LibraryBackupError
}

/** A head large enough to hold the metadata or the age header, the part two different archives differ in. */
const COMPARED_HEAD_BYTES = 64 * 1024

/**
 * Copies what is missing at `to`: by default every regular and safety backup at `from`. Each is
 * checked before it is sent and published whole; a damaged one, or a different archive already
 * under the name at `to`, is reported and the rest still copied. Running it again copies nothing.
 */
export async function copyBackups(options: CopyOptions): Promise<CopyReport> {
  const stop = new Cancellation(options.signal)
  return stop.guard(copy(options, stop))
}

async function copy(options: CopyOptions, stop: Cancellation): Promise<CopyReport> {
  const from = stop.watch(await openPlace('--from', options.from))
  const to = stop.watch(await openPlace('--to', options.to))
  if (sameLocation(from, to)) {
    throw new LibraryBackupError('USAGE_ERROR', `--to ${options.to} is where the backups are copied from`, {
      hint: 'Pass --to with another directory or s3:// prefix.',
    })
  }

  const sources = await chooseSources(from, options)
  const present = new Map((await to.list(isBackupFileName)).map((entry) => [entry.name, entry]))
  const report: CopyReport = {
    from: from.location,
    to: to.location,
    dryRun: Boolean(options.dryRun),
    copied: [],
    skipped: [],
    failed: [],
  }
  for (const source of sources) {
    stop.throwIfStopping()
    const label = source.target.describe(source.name)
    const there = await alreadyThere(source, to, present, Boolean(options.recipients))
    if (there?.conflict) {
      report.failed.push({name: source.name, from: label, error: conflict(to.describe(there.name), label)})
      continue
    }

    if (there) {
      report.skipped.push({name: source.name, path: to.describe(there.name), reason: there.reason})
      continue
    }

    if (options.dryRun) {
      const name = options.recipients && !parseBackupName(source.name)?.encrypted ? `${source.name}.age` : source.name
      report.copied.push({
        name,
        from: label,
        to: to.describe(name),
        sizeBytes: source.sizeBytes,
        encryptedOnTheWay: name !== source.name,
      })
      continue
    }

    try {
      const copied = await copyArchive(source, to, {recipients: options.recipients})
      report.copied.push({...copied, from: label, to: copied.path})
    } catch (error) {
      const failure = error as LibraryBackupError
      if (failure.exitCode === 3 || failure.code === 'OUTPUT_EXISTS') {
        report.failed.push({name: source.name, from: label, error: failure})
        continue
      }

      report.stoppedBy = failure
      break
    }
  }

  return report
}

/** The exit a report ends with: a stop's own, else 3 for a damaged archive, else 1 for a conflict. */
export function copyOutcome(report: CopyReport): LibraryBackupError | undefined {
  if (report.stoppedBy) return report.stoppedBy
  if (report.failed.length === 0) return undefined
  const damaged = report.failed.find((entry) => entry.error.exitCode === 3)
  const first = damaged ?? report.failed[0]
  const others = report.failed.length - 1
  const more = others > 0 ? ` (and ${others} more not copied)` : ''
  return new LibraryBackupError(first.error.code, `${first.error.message}${more}`, {
    hint: `${report.copied.length} other backup${report.copied.length === 1 ? ' was' : 's were'} copied; ${lowerFirst(first.error.hint ?? 'see the list above')}`,
  })
}

type Source = ArchiveRef & {sizeBytes: number}

/** A directory or s3:// prefix; a path that names a file is refused in the words of the flag that gave it. */
async function openPlace(flag: string, location: string): Promise<BackupTarget> {
  if (!isObjectStoreUrl(location) && fs.statSync(location, {throwIfNoEntry: false})?.isFile()) {
    throw new LibraryBackupError('NOT_A_DIRECTORY', `${flag} ${location} is a file, not a directory`, {
      hint: `Pass ${flag} with a directory or an s3:// prefix (name single backups as BACKUP arguments).`,
    })
  }

  return openTarget(location)
}

async function chooseSources(from: BackupTarget, options: CopyOptions): Promise<Source[]> {
  if (options.archives.length > 0) {
    if (options.latest) {
      throw new LibraryBackupError(
        'USAGE_ERROR',
        `--latest copies the newest backup, so it takes no BACKUP (${options.archives[0]} was given)`,
        {
          hint: 'Pass either BACKUP names or --latest.',
        },
      )
    }

    return Promise.all(options.archives.map(async (archive) => named(from, archive)))
  }

  const stored = await from.list(isBackupFileName)
  const dated = stored
    .map((entry) => ({entry, name: parseBackupName(entry.name)!}))
    .filter(({name}) => name.kind === 'regular' || (name.kind === 'pre-restore' && !options.latest))
  dated.sort((a, b) =>
    compareNewestFirst({name: a.entry.name, createdAt: a.name.time!}, {name: b.entry.name, createdAt: b.name.time!}),
  )
  const chosen = options.latest
    ? [latestOf(dated, ({name}) => name.time!)].filter((entry) => entry !== undefined)
    : dated
  if (chosen.length === 0) {
    throw new LibraryBackupError('BACKUP_NOT_FOUND', `No backups to copy in ${from.location}`, {
      hint: 'Create one with vpo library:backup, or pass --from with where your backups are.',
    })
  }

  return chosen.map(({entry}) => ({target: from, name: entry.name, sizeBytes: entry.sizeBytes}))
}

/** A bare name is looked up at --from; a path or an s3:// URL names the archive itself. */
async function named(from: BackupTarget, archive: string): Promise<Source> {
  const {target, name} = await locateArchive(archive, {besides: from})
  const found = await target.stat(name)
  if (!found) {
    throw new LibraryBackupError('BACKUP_NOT_FOUND', `There is no backup ${target.describe(name)}`, {
      hint: 'List them with vpo library:backups (with --path for another place).',
    })
  }

  if (!name.endsWith('.tar.gz') && !name.endsWith('.tar.gz.age')) {
    throw new LibraryBackupError(
      'USAGE_ERROR',
      `${target.describe(name)} is not named like a backup (….tar.gz or ….tar.gz.age)`,
      {
        hint: 'Copy VPO backup archives only.',
      },
    )
  }

  return {target, name, sizeBytes: found.sizeBytes}
}

/**
 * Whether `source` is at `to` already: under its own name with the same size and head (a
 * different archive under the name is a conflict), or, when encrypting, as `….age` (its bytes
 * differ by design, so its presence is enough).
 */
async function alreadyThere(
  source: Source,
  to: BackupTarget,
  present: Map<string, StoredArchive>,
  encrypting: boolean,
): Promise<{conflict?: boolean; name: string; reason: string} | undefined> {
  const sealed = `${source.name}.age`
  if (encrypting && !source.name.endsWith('.age') && present.has(sealed)) {
    return {name: sealed, reason: 'already there, encrypted'}
  }

  const existing = present.get(source.name)
  if (!existing) return undefined
  const same =
    existing.sizeBytes === source.sizeBytes &&
    (await Promise.all([
      source.target.readHead(source.name, COMPARED_HEAD_BYTES),
      to.readHead(source.name, COMPARED_HEAD_BYTES),
    ]).then(([a, b]) => a.equals(b)))
  return same ? {name: source.name, reason: 'already there'} : {conflict: true, name: source.name, reason: 'different'}
}

function conflict(existing: string, source: string): LibraryBackupError {
  return new LibraryBackupError(
    'OUTPUT_EXISTS',
    `${existing} already exists and differs from ${source}, so it was left as it is`,
    {
      hint: 'Compare the two (vpo library:verify), then remove or rename the one you do not want',
    },
  )
}

function sameLocation(a: BackupTarget, b: BackupTarget): boolean {
  return a.location.replace(/\/+$/, '') === b.location.replace(/\/+$/, '')
}

function lowerFirst(text: string): string {
  return /^[A-Z][a-z]/.test(text) ? text[0].toLowerCase() + text.slice(1) : text
}
