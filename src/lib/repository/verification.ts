import fs from 'node:fs'

import {type BackupMetadata, extractDatabase, readArchiveMetadata} from '../archive/index.js'
import {type ArchiveInput, inputPath} from '../archive/source.js'
import {fromSystemError, invalidArchive, LibraryBackupError} from '../errors.js'
import {removeAbandonedTemps, removeTemp, tempPathIn} from '../fs/temp-files.js'
import {hasSqliteHeader, openCopy, quickCheck, readLibraryStats} from '../library/library-database.js'

/**
 * What a restore checks before it changes anything, shared by `restore`, `restore --dry-run` and
 * `library:verify`: the archive's structure, metadata, size and sha256 while its database streams
 * into a scratch file, then SQLite's quick_check of that file and its schema against the metadata.
 */
export interface VerifiedArchive {
  metadata: BackupMetadata
  /** True when the metadata had a checksum and `library.db` matched it. */
  checksumVerified: boolean
  /** The extracted database, when the caller asked to keep it (a restore); else already removed. */
  databasePath?: string
}

export type VerifyPhase = 'extract' | 'verify'

export interface VerifyOptions {
  /** Where the database is extracted: beside the library for a restore, any temp dir otherwise. */
  scratchDir: string
  /** Keep the extracted database and make it durable (the restore swaps it in). */
  keep?: boolean
  onProgress?: (phase: VerifyPhase, done: number, total: number) => void
}

/** What the archive declares, read before anything is written (the whole file for VPO's Python layout). */
export async function readDeclaredMetadata(archivePath: ArchiveInput): Promise<BackupMetadata> {
  return readArchiveMetadata(archivePath)
}

export async function verifyArchive(input: ArchiveInput, options: VerifyOptions): Promise<VerifiedArchive> {
  const archivePath = inputPath(input)
  const extracted = tempPathIn(options.scratchDir, 'restore.db')
  let kept = false
  // The plaintext of an encrypted backup that a run killed with -9 left here (its extracted
  // database, or the decrypted copy an older version or verify --quick wrote): no one comes back for it.
  if (typeof input !== 'string') removeAbandonedTemps(options.scratchDir)
  try {
    assertCanCreate(extracted, options.scratchDir)
    const contents = await extractDatabase(input, extracted, {
      onProgress: (done, total) => options.onProgress?.('extract', done, total),
    }).catch((error) => {
      throw fromSystemError(error, `extracting ${archivePath} into ${options.scratchDir}`)
    })
    options.onProgress?.('verify', 0, 1)
    // The copy goes to disk on the threadpool while SQLite checks it on this thread.
    const durable = options.keep ? startSync(extracted) : Promise.resolve()
    durable.catch(() => {}) // awaited below, unless the check fails first
    checkExtractedLibrary(extracted, archivePath, contents.metadata)
    await durable.catch((error) => {
      throw fromSystemError(error, `writing the restored database into ${options.scratchDir}`)
    })
    kept = Boolean(options.keep)
    return {
      metadata: contents.metadata,
      checksumVerified: contents.checksumVerified,
      databasePath: kept ? extracted : undefined,
    }
  } finally {
    if (!kept) removeTemp(extracted)
  }
}

/**
 * The extractor reports any failure to create its output as a damaged archive; a temp directory
 * that is read-only or not ours is a problem with this machine, so it is found and named first.
 */
function assertCanCreate(file: string, dir: string): void {
  try {
    fs.closeSync(fs.openSync(file, 'wx', 0o600))
    fs.rmSync(file)
  } catch (error) {
    throw fromSystemError(error, `creating the scratch copy of the database in ${dir}`)
  }
}

/** Starts fsync on the threadpool now (not at the next tick), so it runs alongside sync work. */
function startSync(file: string): Promise<void> {
  const fd = fs.openSync(file, 'r+')
  return new Promise((resolve, reject) => {
    fs.fsync(fd, (error) => {
      fs.close(fd, () => {})
      if (error) reject(error)
      else resolve()
    })
  })
}

function checkExtractedLibrary(extracted: string, archivePath: string, metadata: BackupMetadata): void {
  if (!hasSqliteHeader(extracted)) throw invalidArchive(archivePath, 'its library.db is not a SQLite database')
  let db
  try {
    db = openCopy(extracted)
    const problem = quickCheck(db)
    if (problem) throw invalidArchive(archivePath, `its library.db fails SQLite's quick_check (${problem})`)
    const stats = readLibraryStats(db, 'library.db')
    if (stats.schemaVersion !== metadata.schema_version) {
      throw invalidArchive(
        archivePath,
        `its database has schema version ${stats.schemaVersion} but the metadata says ${metadata.schema_version}`,
      )
    }
  } catch (error) {
    if (error instanceof LibraryBackupError && error.code === 'INVALID_ARCHIVE') throw error
    throw invalidArchive(archivePath, `its library.db cannot be used (${(error as Error).message})`, error)
  } finally {
    db?.close()
  }
}
