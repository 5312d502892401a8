/**
 * How backups are named, and what "newest" means: one definition shared by listing, pruning,
 * `restore --latest` and `verify --max-age`.
 *
 *   vpo-library-2026-02-05T143022Z.tar.gz               a regular backup (this plugin)
 *   vpo-library-2026-02-05T14-30-22Z.tar.gz             a regular backup (VPO's Python tool)
 *   vpo-library-2026-02-05T143022Z-2.tar.gz             the second one made in that second
 *   vpo-library-2026-02-05T143022Z-pre-restore.tar.gz   a safety backup made before a restore
 *   vpo-library-2026-02-05T143022Z-damaged.tar.gz       written with --allow-damaged
 *   vpo-library-weekly.tar.gz                           custom: listed, never pruned
 *
 * Any of them may end in `.tar.gz.age` (encrypted).
 */
export const BACKUP_PREFIX = 'vpo-library-'
export const ARCHIVE_SUFFIX = '.tar.gz'
export const ENCRYPTED_SUFFIX = '.tar.gz.age'

export type BackupKind = 'custom' | 'damaged' | 'pre-restore' | 'regular'

export interface BackupName {
  kind: BackupKind
  /** The time in the name; undefined for a custom name. */
  time?: Date
  /** 1 for the plain name, 2 for `-2`, …: orders backups made in the same second. */
  counter: number
  encrypted: boolean
}

const STAMPED =
  /^vpo-library-(\d{4})-(\d{2})-(\d{2})T(\d{2})(?:-?)(\d{2})(?:-?)(\d{2})Z(-pre-restore|-damaged)?(?:-(\d+))?\.tar\.gz(\.age)?$/

/** What a name says about a backup; undefined when it is not a `vpo-library-*.tar.gz[.age]` name. */
export function parseBackupName(name: string): BackupName | undefined {
  const encrypted = name.endsWith(ENCRYPTED_SUFFIX)
  const stem = encrypted
    ? name.slice(0, -ENCRYPTED_SUFFIX.length)
    : name.endsWith(ARCHIVE_SUFFIX)
      ? name.slice(0, -ARCHIVE_SUFFIX.length)
      : undefined
  if (stem === undefined || !stem.startsWith(BACKUP_PREFIX) || stem.length === BACKUP_PREFIX.length) return undefined
  if (stem.includes('/') || stem.includes('\\')) return undefined
  const match = STAMPED.exec(name)
  if (!match) return {kind: 'custom', counter: 1, encrypted}
  const [, y, mo, d, h, mi, s, kindSuffix, counter] = match
  const time = new Date(`${y}-${mo}-${d}T${h}:${mi}:${s}Z`)
  if (Number.isNaN(time.getTime())) return {kind: 'custom', counter: 1, encrypted}
  const kind = kindSuffix === '-pre-restore' ? 'pre-restore' : kindSuffix === '-damaged' ? 'damaged' : 'regular'
  return {kind, time, counter: counter ? Number.parseInt(counter, 10) : 1, encrypted}
}

export function isBackupFileName(name: string): boolean {
  return parseBackupName(name) !== undefined
}

/** `vpo-library-2026-02-05T143022Z`: compact UTC, second precision, sorts by time. */
export function backupStem(date: Date): string {
  const iso = date.toISOString() // 2026-02-05T14:30:22.123Z
  return `${BACKUP_PREFIX}${iso.slice(0, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`
}

/** The n-th candidate name for a backup made at `date`: n = 1 is the plain name, then `-2`, `-3`, … */
export function backupFileName(
  date: Date,
  options: {attempt?: number; encrypted?: boolean; kind?: Exclude<BackupKind, 'custom'>} = {},
): string {
  const kindSuffix = options.kind === 'pre-restore' ? '-pre-restore' : options.kind === 'damaged' ? '-damaged' : ''
  const attempt = options.attempt ?? 1
  const counter = attempt > 1 ? `-${attempt}` : ''
  return `${backupStem(date)}${kindSuffix}${counter}${options.encrypted ? ENCRYPTED_SUFFIX : ARCHIVE_SUFFIX}`
}

/** `2026-02-05T14:30:22Z`: the `created_at` format of the archive metadata. */
export function formatCreatedAt(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`
}

export interface Dated {
  name: string
  /** The metadata's created_at when readable, else the name's time, else the file's mtime. */
  createdAt: Date
}

/** The `-N` a name carries when several backups were made in the same second; 1 without one. */
export function nameCounter(name: string): number {
  const match = /-(\d+)\.tar\.gz(?:\.age)?$/.exec(name)
  return match ? Number(match[1]) : 1
}

/**
 * The one definition of "newest" shared by listing, pruning and `--latest`: created time to the
 * second (the precision of `created_at` and of names), then the `-N` counter a later backup in
 * the same second gets (numeric, so -10 is newer than -9), then the exact time, then the name, so
 * the order is total and never depends on the directory's order.
 */
export function compareNewestFirst(a: Dated, b: Dated): number {
  // An invalid date sorts as the oldest, so it can never be taken for the newest backup.
  const aTime = timeOf(a.createdAt)
  const bTime = timeOf(b.createdAt)
  const aSecond = Math.floor(aTime / 1000)
  const bSecond = Math.floor(bTime / 1000)
  if (aSecond !== bSecond) return bSecond > aSecond ? 1 : -1
  const byCounter = nameCounter(b.name) - nameCounter(a.name)
  if (byCounter !== 0) return byCounter
  if (aTime !== bTime) return bTime > aTime ? 1 : -1
  return a.name < b.name ? 1 : a.name > b.name ? -1 : 0
}

function timeOf(date: Date): number {
  const time = date.getTime()
  return Number.isNaN(time) ? Number.NEGATIVE_INFINITY : time
}
