import os from 'node:os'
import path from 'node:path'

export interface LibraryLocation {
  /** `$VPO_DATA_DIR`, else `~/.vpo`. */
  dataDir: string
  /** `--db`, else `<data dir>/library.db`. */
  databasePath: string
  /** `<data dir>/backups`: where backups go unless told otherwise. */
  backupDir: string
}

export function resolveLibraryLocation(options: {db?: string; env?: NodeJS.ProcessEnv} = {}): LibraryLocation {
  const env = options.env ?? process.env
  const dataDir = path.resolve(env.VPO_DATA_DIR && env.VPO_DATA_DIR.length > 0 ? env.VPO_DATA_DIR : path.join(os.homedir(), '.vpo'))
  return {
    dataDir,
    databasePath: options.db ? path.resolve(options.db) : path.join(dataDir, 'library.db'),
    backupDir: path.join(dataDir, 'backups'),
  }
}

const PREFIX = 'vpo-library-'
const SUFFIX = '.tar.gz'

/** `vpo-library-2026-02-05T143022Z`: compact UTC, second precision, sorts by time. */
export function backupStem(date: Date): string {
  const iso = date.toISOString() // 2026-02-05T14:30:22.123Z
  return `${PREFIX}${iso.slice(0, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`
}

/** The n-th candidate name for a backup made at `date`: n = 1 is the plain name, then `-2`, `-3`, … */
export function backupFileName(date: Date, options: {kind?: 'backup' | 'pre-restore'; attempt?: number} = {}): string {
  const kindSuffix = options.kind === 'pre-restore' ? '-pre-restore' : ''
  const attempt = options.attempt ?? 1
  const counter = attempt > 1 ? `-${attempt}` : ''
  return `${backupStem(date)}${kindSuffix}${counter}${SUFFIX}`
}

export function isBackupFileName(name: string): boolean {
  return name.startsWith(PREFIX) && name.endsWith(SUFFIX) && name.length > PREFIX.length + SUFFIX.length
}

export function isPreRestoreFileName(name: string): boolean {
  return isBackupFileName(name) && /-pre-restore(-\d+)?\.tar\.gz$/.test(name)
}

/** Regular backups are the ones this plugin names itself and `--keep` may prune. */
const REGULAR = /^vpo-library-\d{4}-\d{2}-\d{2}T(\d{6}|\d{2}-\d{2}-\d{2})Z(-\d+)?\.tar\.gz$/

export function isRegularBackupFileName(name: string): boolean {
  return REGULAR.test(name)
}

/**
 * The time written into a backup's file name, in the compact form this plugin writes or the
 * hyphenated form VPO's Python tool writes; undefined for any other name.
 */
export function timestampFromFileName(name: string): Date | undefined {
  const match = /^vpo-library-(\d{4})-(\d{2})-(\d{2})T(\d{2})-?(\d{2})-?(\d{2})Z/.exec(name)
  if (!match) return undefined
  const [, y, mo, d, h, mi, s] = match
  const date = new Date(`${y}-${mo}-${d}T${h}:${mi}:${s}Z`)
  return Number.isNaN(date.getTime()) ? undefined : date
}

/** `2026-02-05T14:30:22Z`: the `created_at` format of the archive metadata. */
export function formatCreatedAt(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`
}
