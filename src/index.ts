export {applyBackup, createBackup, planBackup, previewBackup} from './lib/backup.js'
export {LibraryBackupError} from './lib/errors.js'
export {listBackups} from './lib/repository/listing.js'
export {planRestore, restoreBackup} from './lib/restore.js'
