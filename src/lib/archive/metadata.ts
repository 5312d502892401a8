import {invalidArchive} from '../errors.js'
import {type ExactInteger, isExactInteger, parseExactJson} from './exact-json.js'

export const METADATA_MEMBER = 'backup_metadata.json'
export const DATABASE_MEMBER = 'library.db'
export const METADATA_MAX_BYTES = 1024 * 1024

export interface BackupMetadata {
  vpo_version: string
  schema_version: number
  created_at: string
  database_size_bytes: number
  file_count: ExactInteger
  total_library_size_bytes: ExactInteger
  compression: 'gzip'
  /** Absent in archives made by VPO's Python tool. */
  database_sha256?: string
}

export function parseMetadata(raw: Buffer, archivePath: string): BackupMetadata {
  let value: unknown
  try {
    value = parseExactJson(raw.toString('utf8'))
  } catch {
    throw invalidArchive(archivePath, `${METADATA_MEMBER} is not valid JSON`)
  }

  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidArchive(archivePath, `${METADATA_MEMBER} is not a JSON object`)
  }

  const record = value as Record<string, unknown>
  const fail = (field: string, expected: string) =>
    invalidArchive(archivePath, `${METADATA_MEMBER} field "${field}" is missing or not ${expected}`)
  if (typeof record.vpo_version !== 'string') throw fail('vpo_version', 'a string')
  if (!isCount(record.schema_version) || record.schema_version === 0) throw fail('schema_version', 'a positive integer')
  if (!isCount(record.database_size_bytes)) throw fail('database_size_bytes', 'an integer of 0 or more')
  if (typeof record.created_at !== 'string' || !isCreatedAt(record.created_at)) {
    throw fail('created_at', 'a UTC time like 2026-02-05T14:30:22Z')
  }

  // Counts of any size are exact: VPO's Python tool writes them so.
  for (const field of ['file_count', 'total_library_size_bytes']) {
    if (!isExactInteger(record[field]) || (record[field] as ExactInteger) < 0)
      throw fail(field, 'an integer of 0 or more')
  }

  if (record.compression !== 'gzip') throw fail('compression', '"gzip"')
  if (
    record.database_sha256 !== undefined &&
    (typeof record.database_sha256 !== 'string' || !/^[\da-f]{64}$/i.test(record.database_sha256))
  ) {
    throw fail('database_sha256', '64 hexadecimal digits')
  }

  return {
    vpo_version: record.vpo_version,
    schema_version: record.schema_version as number,
    created_at: record.created_at,
    database_size_bytes: record.database_size_bytes as number,
    file_count: record.file_count as ExactInteger,
    total_library_size_bytes: record.total_library_size_bytes as ExactInteger,
    compression: 'gzip',
    ...(record.database_sha256 === undefined
      ? {}
      : {database_sha256: (record.database_sha256 as string).toLowerCase()}),
  }
}

/** Sizes and versions this plugin does arithmetic with; no real database comes near 2^53 bytes. */
function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

function isCreatedAt(text: string): boolean {
  // Python's isoformat may add fractions of a second or write +00:00 for Z.
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|\+00:00)$/.test(text)) return false
  return !Number.isNaN(Date.parse(text))
}
