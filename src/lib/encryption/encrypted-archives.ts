import type {ArchiveInput} from '../archive/source.js'
import type {AgeRecipient, IdentitySet} from './index.js'

import {LibraryBackupError} from '../errors.js'
import {removeAbandonedTemps, removeTemp, tempPathIn} from '../fs/temp-files.js'
import {namingTheBackup} from '../repository/backup-naming.js'
import {readAgeFileKind} from './format.js'
import {noIdentity, noMatchingIdentity} from './key-errors.js'

/**
 * Where encryption meets the backup flow. An encrypted backup is the same `.tar.gz`, encrypted
 * whole in the age format: built plain in a private staging file, encrypted, then committed. A
 * restore reads an encrypted archive as it decrypts it (withArchiveInput); verify decrypts it whole
 * into a private scratch file first (withPlainArchive), since its quick mode reads by offsets.
 * Either way nothing counts as verified before every chunk has authenticated. The encryption
 * module is loaded only when a key or an age file is met, so plain backups pay nothing for it.
 */
export interface ArchiveKeys {
  /** Who new backups are encrypted to (--encrypt-to, --recipients-file, VPO_BACKUP_RECIPIENTS_FILE). */
  recipients?: AgeRecipient[]
  /** What opens encrypted backups (--identity, VPO_BACKUP_IDENTITY_FILE). */
  identities?: IdentitySet
}

const encryption = async () => import('./index.js')

/** The recipients named by flags, or by the environment's recipients file; undefined for none. */
export async function loadRecipients(options: {
  encryptTo?: string[]
  env?: NodeJS.ProcessEnv
  recipientsFile?: string
}): Promise<AgeRecipient[] | undefined> {
  const file = options.recipientsFile ?? nonEmpty((options.env ?? process.env).VPO_BACKUP_RECIPIENTS_FILE)
  if (!options.encryptTo?.length && !file) return undefined
  const age = await encryption()
  return [...age.parseRecipients(options.encryptTo ?? []), ...(file ? await age.readRecipientsFile(file) : [])]
}

/** The identities named by flags, or by the environment's identity file; undefined for none. */
export async function loadIdentities(options: {
  env?: NodeJS.ProcessEnv
  identity?: string[]
}): Promise<IdentitySet | undefined> {
  const fromEnv = nonEmpty((options.env ?? process.env).VPO_BACKUP_IDENTITY_FILE)
  const paths = options.identity?.length ? options.identity : fromEnv ? [fromEnv] : []
  if (paths.length === 0) return undefined
  return (await encryption()).loadIdentities(paths)
}

/** Encrypts a finished plain archive into a new staged file beside it, and removes the plain one. */
export async function encryptStaged(
  plainPath: string,
  stagingDir: string,
  recipients: AgeRecipient[],
): Promise<{path: string; sizeBytes: number}> {
  const encryptedPath = tempPathIn(stagingDir, 'tar.gz.age')
  try {
    const {encryptedSizeBytes} = await (await encryption()).encryptFile(plainPath, encryptedPath, recipients)
    return {path: encryptedPath, sizeBytes: encryptedSizeBytes}
  } catch (error) {
    removeTemp(encryptedPath)
    throw error
  } finally {
    removeTemp(plainPath)
  }
}

/**
 * Runs `work` on the plain archive: the file itself, or its decrypted copy in `scratchDir` (mode
 * 0600, removed afterwards). No identity, or none that opens it: KEY_ERROR (exit 10); any altered
 * byte: INVALID_ARCHIVE (exit 3). Either way before `work` starts, so nothing has been changed.
 */
export async function withPlainArchive<T>(
  archivePath: string,
  keys: ArchiveKeys,
  scratchDir: string,
  work: (plainPath: string, encrypted: boolean) => Promise<T>,
): Promise<T> {
  if ((await readAgeFileKind(archivePath)) === undefined) return work(archivePath, false)
  const age = await encryption()
  // A run killed with -9 leaves its decrypted copy here, plaintext no one will come back for.
  removeAbandonedTemps(scratchDir)
  const plainPath = tempPathIn(scratchDir, 'decrypted.tar.gz')
  try {
    await age.decryptFile(archivePath, plainPath, keys.identities ?? new age.IdentitySet([]))
    return await namingTheBackup(plainPath, archivePath, () => work(plainPath, true))
  } finally {
    removeTemp(plainPath)
  }
}

/**
 * Runs `work` on the archive as the reader takes it: a plain file as it is, an encrypted one
 * unlocked (KEY_ERROR, or INVALID_ARCHIVE for a damaged header, before `work` starts) and
 * decrypted as it is read, with no plaintext copy on disk. The reader reports an archive whole
 * only once every chunk, the last one included, has authenticated.
 */
export async function withArchiveInput<T>(
  archivePath: string,
  keys: ArchiveKeys,
  work: (input: ArchiveInput, encrypted: boolean) => Promise<T>,
): Promise<T> {
  if ((await readAgeFileKind(archivePath)) === undefined) return work(archivePath, false)
  const age = await encryption()
  const unlocked = await age.unlockFile(archivePath, keys.identities ?? new age.IdentitySet([]))
  return work({path: archivePath, open: () => age.openPlaintext(unlocked)}, true)
}

/** The first `bytes` plain bytes behind an encrypted head (a prefix of the file), decrypting one chunk. */
export async function decryptedHead(
  head: Buffer,
  identities: IdentitySet,
  bytes: number,
  label: string,
): Promise<Buffer> {
  return (await encryption()).decryptHead(head, identities, bytes, label)
}

/**
 * An --output file name must say what the file is: an age file named .tar.gz fails in tar with a
 * puzzling error years later, and a plain archive named .age is listed as encrypted. Refused
 * before anything is written; a name the plugin picks is always right.
 */
export function assertOutputName(name: string | undefined, encrypted: boolean): void {
  if (name === undefined || name.endsWith('.age') === encrypted) return
  throw encrypted
    ? new LibraryBackupError(
        'USAGE_ERROR',
        `${name} does not end in .age, but this backup is encrypted (an age file)`,
        {
          hint: `Pass --output ${name}.age, or a directory.`,
        },
      )
    : new LibraryBackupError('USAGE_ERROR', `${name} ends in .age, but this backup is not encrypted`, {
        hint: 'Pass --encrypt-to or --recipients-file to encrypt it, or leave .age out of the name.',
      })
}

/** KEY_ERROR (exit 10) for an encrypted archive that none of `identities`, if any were given, opens. */
export function lockedArchiveError(archivePath: string, identities?: IdentitySet): LibraryBackupError {
  return identities ? noMatchingIdentity(archivePath) : noIdentity(archivePath)
}

function nonEmpty(value: string | undefined): string | undefined {
  return value && value.length > 0 ? value : undefined
}
