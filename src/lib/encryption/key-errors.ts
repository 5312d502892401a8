import {LibraryBackupError} from '../errors.js'

const OPTION = 'pass it with --identity FILE or set VPO_BACKUP_IDENTITY_FILE'

export function noIdentity(archivePath: string): LibraryBackupError {
  return new LibraryBackupError('KEY_ERROR', `${archivePath} is encrypted and no identity was given; ${OPTION}.`)
}

/** age recipient stanzas are anonymous by design, so a damaged stanza also lands here. */
export function noMatchingIdentity(archivePath: string): LibraryBackupError {
  return new LibraryBackupError(
    'KEY_ERROR',
    `None of the given identities can open ${archivePath}; find the key it was encrypted to and ${OPTION}.`,
  )
}

export function badIdentityFile(filePath: string, problem: string): LibraryBackupError {
  return new LibraryBackupError('KEY_ERROR', `The identity file ${filePath} ${problem}.`)
}
