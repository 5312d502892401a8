import os from 'node:os'
import path from 'node:path'

export interface LibraryLocation {
  /** `$VPO_DATA_DIR`, else `~/.vpo`. */
  dataDir: string
  /** `--db`, else `<data dir>/library.db`. */
  databasePath: string
  /** `<data dir>/backups`: where backups go unless told otherwise. */
  backupDir: string
}

export function resolveLibraryLocation(options: {db?: string; env?: NodeJS.ProcessEnv} = {}): LibraryLocation {
  const env = options.env ?? process.env
  const dataDir = path.resolve(
    env.VPO_DATA_DIR && env.VPO_DATA_DIR.length > 0 ? env.VPO_DATA_DIR : path.join(os.homedir(), '.vpo'),
  )
  return {
    dataDir,
    databasePath: options.db ? path.resolve(options.db) : path.join(dataDir, 'library.db'),
    backupDir: path.join(dataDir, 'backups'),
  }
}
