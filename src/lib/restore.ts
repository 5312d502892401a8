import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import type {BackupMetadata} from './archive/index.js'
import type {ArchiveInput} from './archive/source.js'

import {Cancellation} from './cancellation.js'
import {type ArchiveKeys} from './encryption/encrypted-archives.js'
import {assertSpaceFor} from './fs/disk-space.js'
import {abandonedTempBytes} from './fs/temp-files.js'
import {withStreamedArchiveInput} from './repository/local-plain-archive.js'
import {type VerifiedArchive, verifyArchive, type VerifyPhase} from './repository/verification.js'
import {applyRestore} from './restore/apply.js'
import {planRestoreOf, type RestorePlan} from './restore/plan.js'
import {locateArchive} from './storage/locations.js'

export type RestorePhase = 'safety-backup' | VerifyPhase

export interface RestoreOptions {
  /** A path or an s3:// URL. */
  archive: string
  databasePath: string
  backupDir: string
  /** The newest schema this VPO can open; a newer archive is refused. */
  supportedSchemaVersion: number
  vpoVersion: string
  /** Save the current library as a pre-restore backup first (the default). */
  safetyBackup: boolean
  /** Asked only when a library would be replaced; resolve false to change nothing. */
  confirm: (question: {databasePath: string; metadata: BackupMetadata}) => Promise<boolean>
  onWarning?: (message: string) => void
  onProgress?: (phase: RestorePhase, done: number, total: number) => void
  /** Identities for an encrypted archive; recipients for the safety backup of an encrypted restore. */
  keys?: ArchiveKeys
  /** Aborting it stops the restore (it then rejects with `Interrupted`) until the library is swapped. */
  signal?: AbortSignal
}

/** A dry run asks nothing; it plans the safety backup a restore would make (by default, one). */
export type DryRunOptions = Omit<RestoreOptions, 'confirm' | 'safetyBackup'> & {safetyBackup?: boolean}

export interface RestoreResult {
  sourcePath: string
  databasePath: string
  metadata: BackupMetadata
  checksumVerified: boolean
  currentSchemaVersion: number
  schemaMismatch: boolean
  safetyBackupPath?: string
  durationSeconds: number
}

/** Whether a library is there to be replaced (a dangling symlink counts as none). */
export function libraryExists(databasePath: string): boolean {
  return fs.existsSync(databasePath)
}

/**
 * --dry-run: the restore's plan (every check a restore makes before it writes), then the archive
 * checked in full in the temp directory; nothing else is touched. The room the plan needs is
 * checked as the restore will find it, which first removes what a killed run left beside the
 * library (only the lock holder may: restore/apply.ts); here those files are counted as free.
 */
export async function planRestore(options: DryRunOptions): Promise<RestoreResult> {
  const stop = new Cancellation(options.signal)
  const started = Date.now()
  return stop.guard(
    withLocalArchive(options.archive, options.keys, stop, async (archive, source) => {
      const plan = await planRestoreOf(archive, source, {...options, safetyBackup: options.safetyBackup ?? true})
      const libraryDir = path.dirname(plan.databasePath)
      await assertSpaceFor(plan.spaceNeeds, {
        reclaimable: [{directory: libraryDir, bytes: abandonedTempBytes(libraryDir)}],
      })
      return resultOf(plan, await trialExtraction(archive, plan, options), options, started)
    }),
  )
}

/** The restore: the same plan as the dry run, then carried out (restore/apply.ts). */
export async function restoreBackup(options: RestoreOptions): Promise<RestoreResult> {
  const stop = new Cancellation(options.signal)
  const started = Date.now()
  return stop.guard(
    withLocalArchive(options.archive, options.keys, stop, async (archive, source) => {
      const plan = await planRestoreOf(archive, source, options)
      const {verified, safetyBackupPath} = await applyRestore(plan, archive, options, stop)
      return {...resultOf(plan, verified, options, started), safetyBackupPath}
    }),
  )
}

/** The dry run's archive check: what the restore would extract and verify, into the temp directory. */
async function trialExtraction(
  archive: ArchiveInput,
  plan: RestorePlan,
  options: Pick<RestoreOptions, 'onProgress'>,
): Promise<VerifiedArchive> {
  const scratchDir = os.tmpdir()
  await assertSpaceFor([
    {directory: scratchDir, bytes: plan.declared.database_size_bytes, purpose: 'the trial extraction'},
  ])
  return verifyArchive(archive, {scratchDir, onProgress: options.onProgress})
}

/**
 * Runs `work` on a local copy of the archive, open for the plan and for what follows it: the file
 * itself, or a download in the temp directory, removed afterwards. A plain remote archive is
 * read as it downloads, and the reader reports it whole only once the download is complete and
 * checked; an encrypted one is fetched whole, then decrypted as it is read, and reported whole only
 * once its last chunk has authenticated. Neither can change anything unless it verifies.
 */
async function withLocalArchive<T>(
  archive: string,
  keys: ArchiveKeys | undefined,
  stop: Cancellation,
  work: (archive: ArchiveInput, source: {encrypted: boolean; sourcePath: string}) => Promise<T>,
): Promise<T> {
  const {target, name} = await locateArchive(archive)
  stop.watch(target)
  return withStreamedArchiveInput({target, name}, keys ?? {}, (input, encrypted) =>
    work(input, {encrypted, sourcePath: target.addressOf(name)}),
  )
}

function resultOf(
  plan: RestorePlan,
  verified: VerifiedArchive,
  options: Pick<RestoreOptions, 'supportedSchemaVersion'>,
  started: number,
): RestoreResult {
  const {metadata} = verified
  return {
    sourcePath: plan.sourcePath,
    databasePath: plan.databasePath,
    metadata,
    checksumVerified: verified.checksumVerified,
    currentSchemaVersion: options.supportedSchemaVersion,
    schemaMismatch: metadata.schema_version !== options.supportedSchemaVersion,
    durationSeconds: (Date.now() - started) / 1000,
  }
}
