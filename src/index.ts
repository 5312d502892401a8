export {createBackup, planBackup} from './lib/backup.js'
export {LibraryBackupError} from './lib/errors.js'
