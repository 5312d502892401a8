import {LibraryBackupError} from '../errors.js'

const OPTION = 'Pass it with --identity FILE, or set VPO_BACKUP_IDENTITY_FILE.'

export function noIdentity(archivePath: string): LibraryBackupError {
  return new LibraryBackupError('KEY_ERROR', `${archivePath} is encrypted and no identity was given`, {hint: OPTION})
}

/** age recipient stanzas are anonymous by design, so a damaged stanza also lands here. */
export function noMatchingIdentity(archivePath: string): LibraryBackupError {
  return new LibraryBackupError('KEY_ERROR', `None of the given identities can open ${archivePath}`, {
    hint: `Find the key it was encrypted to. ${OPTION}`,
  })
}

export function badIdentityFile(filePath: string, problem: string, hint?: string): LibraryBackupError {
  return new LibraryBackupError('KEY_ERROR', `The identity file ${filePath} ${problem}`, {hint})
}
