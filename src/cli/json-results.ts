/**
 * What each command prints with --json: the return types of their run() methods, and what the
 * tests parse. Sizes and counts that can pass 2^53 are written as exact JSON integers.
 */
import type {ExactInteger} from '../lib/archive/exact-json.js'
import type {ErrorJson} from '../lib/errors.js'
import type {BackupKind} from '../lib/repository/backup-names.js'

export interface BackupJson {
  success: true
  path: string
  archive_size_bytes: number
  database_size_bytes: number
  compression_ratio: number
  file_count: ExactInteger
  total_library_size_bytes: ExactInteger
  schema_version: number
  created_at: string
  database_sha256: string
  duration_seconds: number
  /** Present when written with --allow-damaged from a library that fails quick_check. */
  damaged?: true
  /** Present when encrypted with age (--encrypt-to, --recipients-file). */
  encrypted?: true
  /** Backups removed by the retention flags (at the primary location). */
  pruned: string[]
  /** With --copy-to: the primary location, then each place: whether the archive is there, what was pruned there. */
  places?: Array<{
    location: string
    primary: boolean
    path: string | null
    stored: boolean
    pruned: string[]
    error?: ErrorJson
  }>
}

/** Exit 11 (LIBRARY_SHRANK): the backup was written, so its report comes with the error. */
export interface BackupShrankJson extends Omit<BackupJson, 'success'> {
  success: false
  shrink: {
    previous_file_count: number
    file_count: number
    /** The last backup before the drop: kept from every prune until the drop is accepted. */
    last_backup_before_drop: string
    max_shrink_percent: number
  }
  error: ErrorJson
}

export interface BackupPlanJson {
  success: true
  dry_run: true
  database_path: string
  database_size_bytes: number
  output_path: string
  estimated_archive_size_bytes: {low: number; high: number}
  file_count: ExactInteger
  total_library_size_bytes: ExactInteger
  schema_version: number
  /** The --copy-to places. */
  copy_to: string[]
  /** library.db-journal holds an unfinished transaction, which the backup rolls back first. */
  unfinished_transaction: boolean
  /** The shrink guard would report a drop (exit 11): with what, and whether `--output FILE --force` would keep FILE. */
  shrink: null | {
    previous_file_count: number
    file_count: number
    last_backup_before_drop: string
    max_shrink_percent: number
    output_kept: boolean
  }
}

export interface RestoreJson {
  success: true
  source_path: string
  database_path: string
  created_at: string
  file_count: ExactInteger
  total_library_size_bytes: ExactInteger
  schema_version: number
  current_schema_version: number
  schema_mismatch: boolean
  checksum_verified: boolean
  safety_backup_path: string | null
  duration_seconds: number
}

export interface RestorePlanJson extends Omit<RestoreJson, 'safety_backup_path'> {
  dry_run: true
  vpo_version: string
  database_size_bytes: number
  safety_backup_path: null
}

/** --if-db-not-exists or --if-backup-exists found nothing to do. */
export interface RestoreSkippedJson {
  success: true
  restored: false
  reason: string
}

export interface ListedBackupJson {
  filename: string
  path: string
  kind: BackupKind
  encrypted: boolean
  /** From the metadata; for a locked archive, from its stamped name (null for a custom name). */
  created_at: string | null
  archive_size_bytes: number
  database_size_bytes: number | null
  file_count: ExactInteger | null
  total_library_size_bytes: ExactInteger | null
  schema_version: number | null
  readable: boolean
  /** All its bytes are there (false: damaged, see `problem`; null: cannot tell, e.g. locked and made by another tool). */
  whole: boolean | null
  problem?: string
  /** Encrypted, and no given identity opens it: its metadata is unknown, not bad. */
  locked?: true
}

export interface BackupsJson {
  directory: string
  total_count: number
  total_size_bytes: number
  backups: ListedBackupJson[]
}

export interface VerifyJson {
  success: boolean
  directory?: string
  quick: boolean
  backups: Array<{
    path: string
    ok: boolean
    created_at: string | null
    checksum_verified: boolean
    problem?: string
    /** Encrypted and no given identity opens it: not verified, not known to be bad. */
    locked?: true
  }>
  newest_good: {path: string; created_at: string} | null
  /** A backup that verified but is dated in the future beyond clock skew: never counted as fresh. */
  future_dated?: {path: string; created_at: string}
  /** Present with --max-age. */
  fresh?: boolean
}

export interface PruneJson {
  success: true
  dry_run: boolean
  directory: string
  kept: Array<{path: string; reasons: string[]}>
  removed: string[]
}

export interface CopyJson {
  success: boolean
  dry_run: boolean
  from: string
  to: string
  /** Copied (with --dry-run: would be copied). */
  copied: Array<{name: string; from: string; path: string; size_bytes: number; encrypted_on_the_way: boolean}>
  /** Already at the destination. */
  skipped: Array<{name: string; path: string; reason: string}>
  /** Damaged sources (exit 3) and conflicts with a different file of the same name (exit 1). */
  failed: Array<{name: string; from: string; error: ErrorJson}>
}
