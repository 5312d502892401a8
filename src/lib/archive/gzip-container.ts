import fsp from 'node:fs/promises'

import {invalidArchive, LibraryBackupError} from '../errors.js'
import {GzipFormatError} from './gzip-inflate.js'
import {type ArchiveInput, openArchiveBytes} from './source.js'

/** Format detection by content, not by name: ZIP gets its own message. */
export async function assertGzipContainer(input: ArchiveInput): Promise<void> {
  if (typeof input !== 'string') {
    const bytes = await openArchiveBytes(input)
    try {
      const magic = Buffer.alloc(4)
      assertGzipMagic(magic, (await bytes.read(magic, 0, 4, 0)).bytesRead, input.path)
    } finally {
      await bytes.close()
    }

    return
  }

  const archivePath = input
  let handle: fsp.FileHandle
  try {
    handle = await fsp.open(archivePath, 'r')
  } catch (error) {
    const {code} = error as NodeJS.ErrnoException
    if (code === 'ENOENT') {
      throw new LibraryBackupError('BACKUP_NOT_FOUND', `Backup file ${archivePath} does not exist`, {
        hint: 'Check the path (vpo library:backups lists your backups).',
      })
    }

    if (code === 'EISDIR') throw invalidArchive(archivePath, 'it is a directory, not a file')
    throw new LibraryBackupError('IO_ERROR', `Cannot read ${archivePath} (${(error as Error).message})`, {
      hint: 'Check its permissions.',
    })
  }

  try {
    if (!(await handle.stat()).isFile()) throw invalidArchive(archivePath, 'it is not a regular file')
    const magic = Buffer.alloc(4)
    assertGzipMagic(magic, (await handle.read(magic, 0, 4, 0)).bytesRead, archivePath)
  } finally {
    await handle.close()
  }
}

function assertGzipMagic(magic: Buffer, bytesRead: number, archivePath: string): void {
  if (bytesRead === 0) throw invalidArchive(archivePath, 'the file is empty')
  if (magic.toString('latin1', 0, 2) === 'PK') {
    throw new LibraryBackupError('UNSUPPORTED_ARCHIVE', `${archivePath} is a ZIP file, and ZIP is not supported`, {
      hint: 'VPO backups are .tar.gz archives made by vpo library:backup.',
    })
  }

  if (bytesRead < 2 || magic[0] !== 0x1f || magic[1] !== 0x8b) {
    throw new LibraryBackupError('UNSUPPORTED_ARCHIVE', `${archivePath} is not a gzip-compressed tar archive`, {
      hint: 'VPO backups are .tar.gz archives made by vpo library:backup.',
    })
  }
}

export function describeGzipError(error: NodeJS.ErrnoException): string {
  if (error instanceof GzipFormatError) return error.message
  if (error.code === 'Z_BUF_ERROR' || /unexpected end/i.test(error.message))
    return 'the gzip data ends early (the file is truncated)'
  if (error.code === 'Z_DATA_ERROR') return `the gzip data is corrupted (${error.message})`
  return `it cannot be read (${error.message})`
}
