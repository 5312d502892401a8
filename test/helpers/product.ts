/*
 * Everything the tests take from the product code, in one place: when a module under src/ moves,
 * this is the one file to change. Tests import product code from here, never from src/ directly.
 */

export {parseMetadata} from '../../src/lib/archive.js'
export {backupFileName, compareNewestFirst, formatCreatedAt, parseBackupName} from '../../src/lib/backup-names.js'
export {fromSystemError, LibraryBackupError} from '../../src/lib/errors.js'
export {formatBytes, formatCount, formatDuration} from '../../src/lib/format.js'
export {lockDirectory} from '../../src/lib/library-lock.js'
export {pruneBackups} from '../../src/lib/prune.js'
export {LocalDirectory} from '../../src/lib/storage/local-directory.js'
export {TEMP_PREFIX} from '../../src/lib/temp-files.js'
export {BUILT_IN_SCHEMA_VERSION} from '../../src/library-command.js'
