import {LibraryBackupError} from '../errors.js'

/**
 * Why a listed backup could not be read, as one sentence that names it: a system error's own
 * text ("EACCES: permission denied, open '…'") is for programmers, not for the listing.
 */
export function unreadableBackup(backupName: string, error: unknown): string {
  if (error instanceof LibraryBackupError) return error.message
  const {code} = error as NodeJS.ErrnoException
  switch (code) {
    case 'EACCES':
    case 'EPERM': {
      return `${backupName} cannot be read by this user (permission denied); check its owner and mode, or run as its owner`
    }

    case 'EIO': {
      return `${backupName} cannot be read: the disk or share reported an I/O error`
    }

    case 'ENOENT': {
      return `${backupName} disappeared while it was being listed`
    }

    case 'EISDIR':
    case 'ENOTDIR': {
      return `${backupName} is not a regular file`
    }

    default: {
      return code
        ? `${backupName} cannot be read (${code})`
        : `${backupName} cannot be read: ${(error as Error).message ?? String(error)}`
    }
  }
}
