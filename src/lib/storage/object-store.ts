import type {BackupTarget} from './target.js'

import {LibraryBackupError} from '../errors.js'

/** Object storage arrives with the S3 target; until then an s3:// location is refused clearly. */
export async function openObjectStore(url: string): Promise<BackupTarget> {
  throw new LibraryBackupError('USAGE_ERROR', `Object storage locations such as ${url} are not supported by this version`, {
    hint: 'Use a local directory.',
  })
}
