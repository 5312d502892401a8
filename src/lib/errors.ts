/**
 * Every failure the plugin reports on purpose, with the exit code the user's scripts rely on.
 * Commands render these; nothing else decides an exit code.
 */
export const EXIT_CODES = {
  DATABASE_NOT_FOUND: 1,
  NOT_A_LIBRARY: 1,
  OUTPUT_EXISTS: 1,
  OUTPUT_IS_LIBRARY: 1,
  BACKUP_NOT_FOUND: 1,
  NOT_A_DIRECTORY: 1,
  CONFIRMATION_REQUIRED: 1,
  RESTORE_DECLINED: 1,
  SAFETY_BACKUP_FAILED: 1,
  PRUNE_FAILED: 1,
  IO_ERROR: 1,
  USAGE_ERROR: 2,
  INVALID_ARCHIVE: 3,
  UNSUPPORTED_ARCHIVE: 3,
  DATABASE_LOCKED: 4,
  BACKUPS_LOCKED: 4,
  INSUFFICIENT_SPACE: 5,
  SCHEMA_TOO_NEW: 6,
  LIBRARY_DAMAGED: 7,
  STORAGE_ERROR: 8,
  BACKUP_STALE: 9,
  KEY_ERROR: 10,
  LIBRARY_SHRANK: 11,
  INTERRUPTED: 130,
} as const

export type ErrorCode = keyof typeof EXIT_CODES

export interface ErrorJson {
  code: ErrorCode
  message: string
  hint?: string
  exit_code: number
}

/**
 * What went wrong (`message`) and, apart from it, what to do next (`hint`), as oclif's
 * `CLIError.suggestions` and Litestream's hints keep them: JSON consumers get both fields, a
 * person gets one sentence.
 */
export class LibraryBackupError extends Error {
  readonly code: ErrorCode
  readonly exitCode: number
  readonly hint: string | undefined

  constructor(code: ErrorCode, message: string, options: {cause?: unknown; hint?: string} = {}) {
    super(message, {cause: options.cause})
    this.name = 'LibraryBackupError'
    this.code = code
    this.exitCode = EXIT_CODES[code]
    this.hint = options.hint
  }

  /** One sentence for a terminal: "what went wrong; what to do." */
  get sentence(): string {
    if (!this.hint) return /[.!?]$/.test(this.message) ? this.message : `${this.message}.`
    return `${this.message}; ${lowerFirst(this.hint)}`
  }

  toJSON(): ErrorJson {
    return {code: this.code, message: this.message, ...(this.hint ? {hint: this.hint} : {}), exit_code: this.exitCode}
  }
}

/** "Pass --db" becomes "pass --db" mid-sentence; "VPO …" and "ZIP …" stay as they are. */
function lowerFirst(text: string): string {
  return /^[A-Z][a-z]/.test(text) ? text[0].toLowerCase() + text.slice(1) : text
}

export const LISTING_HINT = 'Choose another backup (vpo library:backups lists them).'

export function invalidArchive(archivePath: string, reason: string, cause?: unknown): LibraryBackupError {
  return new LibraryBackupError('INVALID_ARCHIVE', `${archivePath} is not a valid VPO backup: ${reason}`, {
    cause,
    hint: LISTING_HINT,
  })
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
      return new LibraryBackupError('INSUFFICIENT_SPACE', `The disk filled up while ${doing}${where}`, {
        cause: error,
        hint: 'Free some space and try again.',
      })
    }

    case 'EACCES':
    case 'EPERM': {
      return new LibraryBackupError('IO_ERROR', `Permission denied while ${doing}${where}`, {
        cause: error,
        hint: 'Check that you can write there, or choose another location.',
      })
    }

    case 'EROFS': {
      return new LibraryBackupError('IO_ERROR', `The filesystem is read-only${where} while ${doing}`, {
        cause: error,
        hint: 'Remount it read-write, or choose another location.',
      })
    }

    default: {
      const detail = err.message ?? String(error)
      return new LibraryBackupError('IO_ERROR', `Failed while ${doing} (${detail})`, {
        cause: error,
        hint: 'Check the disk and the path, then try again.',
      })
    }
  }
}
