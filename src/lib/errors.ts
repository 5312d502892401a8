/**
 * Every failure the plugin reports on purpose, with the exit code the user's scripts rely on.
 * Commands render these; nothing else decides an exit code.
 */
export const EXIT_CODES = {
  DATABASE_NOT_FOUND: 1,
  NOT_A_LIBRARY: 1,
  OUTPUT_EXISTS: 1,
  BACKUP_NOT_FOUND: 1,
  NOT_A_DIRECTORY: 1,
  CONFIRMATION_REQUIRED: 1,
  RESTORE_DECLINED: 1,
  SAFETY_BACKUP_FAILED: 1,
  IO_ERROR: 1,
  USAGE_ERROR: 2,
  INVALID_ARCHIVE: 3,
  UNSUPPORTED_ARCHIVE: 3,
  DATABASE_LOCKED: 4,
  INSUFFICIENT_SPACE: 5,
  SCHEMA_TOO_NEW: 6,
  STORAGE_ERROR: 8,
  INTERRUPTED: 130,
} as const

export type ErrorCode = keyof typeof EXIT_CODES

export class LibraryBackupError extends Error {
  readonly code: ErrorCode
  readonly exitCode: number

  constructor(code: ErrorCode, message: string, options?: {cause?: unknown}) {
    super(message, options)
    this.name = 'LibraryBackupError'
    this.code = code
    this.exitCode = EXIT_CODES[code]
  }

  toJSON(): {code: ErrorCode; exit_code: number; message: string} {
    return {code: this.code, message: this.message, exit_code: this.exitCode}
  }
}

export function invalidArchive(archivePath: string, reason: string, cause?: unknown): LibraryBackupError {
  return new LibraryBackupError(
    'INVALID_ARCHIVE',
    `${archivePath} is not a valid VPO backup: ${reason}; choose another backup (vpo library:backups lists them).`,
    {cause},
  )
}

/**
 * Turns a system error raised while writing or reading into one of ours, so a full disk is exit 5
 * and a permission problem names the path instead of printing a stack trace.
 */
export function fromSystemError(error: unknown, doing: string): LibraryBackupError {
  if (error instanceof LibraryBackupError) return error
  const err = error as NodeJS.ErrnoException
  const where = err.path ? ` (${err.path})` : ''
  switch (err.code) {
    case 'ENOSPC':
    case 'EDQUOT': {
      return new LibraryBackupError(
        'INSUFFICIENT_SPACE',
        `The disk filled up while ${doing}${where}; free some space and try again.`,
        {cause: error},
      )
    }

    case 'EACCES':
    case 'EPERM':
    case 'EROFS': {
      return new LibraryBackupError(
        'IO_ERROR',
        `Permission denied while ${doing}${where}; check that you can write there or choose another location.`,
        {cause: error},
      )
    }

    default: {
      const detail = err.message ?? String(error)
      return new LibraryBackupError('IO_ERROR', `Failed while ${doing} (${detail}); check the disk and the path, then try again.`, {cause: error})
    }
  }
}
