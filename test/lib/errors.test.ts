/** Errors: the exit code of each failure, and how system errors become ours. */
import {expect} from 'chai'

import {fromSystemError, LibraryBackupError} from '../../src/lib/errors.js'

/** A system error as Node raises it (code, and the path when there is one). */
function systemError(code: string, file?: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: something, open '${file}'`), {code, path: file})
}

describe('errors', () => {
  describe('LibraryBackupError', () => {
    it('carries the exit codes the spec documents', () => {
      expect(new LibraryBackupError('DATABASE_LOCKED', 'x').exitCode).to.equal(4)
      expect(new LibraryBackupError('INSUFFICIENT_SPACE', 'x').exitCode).to.equal(5)
      expect(new LibraryBackupError('SCHEMA_TOO_NEW', 'x').exitCode).to.equal(6)
      expect(new LibraryBackupError('INVALID_ARCHIVE', 'x').exitCode).to.equal(3)
      expect(new LibraryBackupError('USAGE_ERROR', 'x').exitCode).to.equal(2)
      expect(new LibraryBackupError('OUTPUT_EXISTS', 'x').toJSON()).to.deep.equal({
        code: 'OUTPUT_EXISTS',
        message: 'x',
        exit_code: 1,
      })
    })
  })

  describe('fromSystemError', () => {
    it('a full disk or quota is INSUFFICIENT_SPACE (exit 5), naming the path', () => {
      for (const code of ['ENOSPC', 'EDQUOT']) {
        const error = fromSystemError(systemError(code, '/backups/x.tar.gz'), 'writing the archive')
        expect(error.code, code).to.equal('INSUFFICIENT_SPACE')
        expect(error.exitCode).to.equal(5)
        expect(error.message).to.include('/backups/x.tar.gz')
      }
    })

    it('a permission problem or a read-only filesystem is IO_ERROR (exit 1), naming the path', () => {
      for (const code of ['EACCES', 'EPERM', 'EROFS']) {
        const error = fromSystemError(systemError(code, '/backups'), 'creating the backup directory')
        expect(error.code, code).to.equal('IO_ERROR')
        expect(error.exitCode).to.equal(1)
        expect(error.message).to.include('/backups')
      }
    })

    it('anything else is IO_ERROR with the system message and what was being done', () => {
      const error = fromSystemError(systemError('EIO', '/data/library.db'), 'reading the library')
      expect(error.code).to.equal('IO_ERROR')
      expect(error.message).to.include('reading the library')
      expect(error.message).to.include('EIO')
    })

    it('keeps the original error as the cause, and passes one of ours through unchanged', () => {
      const original = systemError('ENOSPC', '/x')
      expect(fromSystemError(original, 'writing').cause).to.equal(original)
      const ours = new LibraryBackupError('DATABASE_LOCKED', 'locked')
      expect(fromSystemError(ours, 'writing')).to.equal(ours)
    })
  })
})
