import fsp from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import type {IdentitySet} from '../encryption/index.js'
import type {BackupTarget} from '../storage/target.js'

import {type BackupMetadata, quickCheckArchive, structureProblem} from '../archive/index.js'
import {plainWholeness, TAIL_BYTES} from '../archive/whole.js'
import {ageFileKind} from '../encryption/format.js'
import {invalidArchive, LibraryBackupError} from '../errors.js'
import {withLocalPlainArchive} from './local-plain-archive.js'

/**
 * The one answer to "is this backup whole?", for listing, prune, `restore --latest`, verify and
 * copy alike, for every archive, local or remote, plain or encrypted, this plugin's or another
 * tool's. It is decided from the archive's head and size (and a few bytes of its tail): this
 * plugin's head records the archive's length and implies its last member; age's framing and the
 * plugin's length stanza fix an encrypted file's length without a key. Only another tool's layout,
 * which has no such head, is read through, in a private scratch directory.
 *
 * Whole is about the bytes being all there, not about the database inside: `library:verify`
 * checks that (sha256, quick_check).
 */
export interface Wholeness {
  /** true: whole; false: damaged (`problem` says why); null: cannot tell (encrypted, no key, no recorded length). */
  whole: boolean | null
  encrypted: boolean
  /** Null when unread: damaged, or encrypted with no identity that opens it. */
  metadata: BackupMetadata | null
  /** The sentence for the user: why it is damaged, or why it was not read. */
  problem?: string
  /** Why it is damaged, in a few words (`the file is truncated (400000 of 1523412 bytes)`). */
  damage?: string
  /** Encrypted, and no given identity opens it. */
  locked?: boolean
}

/** An age header (a few hundred bytes per recipient) and the first 64 KiB chunk fit in this. */
const HEAD_READ_BYTES = 128 * 1024

/**
 * Checks the archive `name` in `target`. `sizeBytes` is its size when already listed. Archive
 * faults are answers (`whole: false`); a store or disk that fails to answer throws.
 */
export async function checkWhole(
  target: BackupTarget,
  name: string,
  options: {identities?: IdentitySet; sizeBytes?: number} = {},
): Promise<Wholeness> {
  const label = target.addressOf(name)
  const size = options.sizeBytes ?? (await sizeOf(target, name))
  const encryptedName = name.endsWith('.age')
  // An empty object answers a ranged read with an error some stores retry: it needs no read at all.
  if (size === 0) return damaged(label, 'the file is empty', encryptedName)
  const head = await target.readHead(name, HEAD_READ_BYTES)
  if (ageFileKind(head) !== undefined) return checkEncrypted(target, name, {head, size}, options.identities)
  const tail = await target.readRange(name, Math.max(0, size - TAIL_BYTES), Math.min(size, TAIL_BYTES))
  const plain = plainWholeness(head, tail, size, label)
  if ('reason' in plain) return damaged(label, plain.reason, false)
  if ('otherLayout' in plain) return readThrough(target, name, options.identities)
  // Archives from before the length was recorded: locally, their members can still be walked.
  const onDisk = plain.declared ? undefined : target.localPath(name)
  if (onDisk !== undefined) {
    const problem = await structureProblem(onDisk, plain.head)
    if (problem) return damaged(label, problem, false)
  }

  return {whole: true, encrypted: false, metadata: plain.metadata}
}

async function checkEncrypted(
  target: BackupTarget,
  name: string,
  {head, size}: {head: Buffer; size: number},
  identities?: IdentitySet,
): Promise<Wholeness> {
  const label = target.addressOf(name)
  const age = await import('../encryption/index.js')
  const framing = age.checkFraming(head, size)
  if (framing.problem) return damaged(label, framing.problem, true)
  // Without a key, the size decides when the header recorded the plain length; else it is unknown.
  const locked = (problem: string): Wholeness => ({
    whole: framing.recorded ? true : null,
    encrypted: true,
    metadata: null,
    locked: true,
    problem,
  })
  if (!identities)
    return locked(`${label} is encrypted; pass --identity FILE (or set VPO_BACKUP_IDENTITY_FILE) to read its metadata`)
  let ends
  try {
    ends = await age.openEnds(
      {head, size, label, readRange: (start, bytes) => target.readRange(name, start, bytes)},
      identities,
    )
  } catch (error) {
    const {code} = error as LibraryBackupError
    if (code === 'KEY_ERROR') return locked((error as Error).message)
    if (code === 'INVALID_ARCHIVE' || code === 'UNSUPPORTED_ARCHIVE') return fault(error as Error, label, true)
    throw error
  }

  const plain = plainWholeness(ends.plainHead, ends.plainTail.subarray(-TAIL_BYTES), ends.plainSize, label)
  if ('reason' in plain) return damaged(label, plain.reason, true)
  if ('otherLayout' in plain) return readThrough(target, name, identities)
  return {whole: true, encrypted: true, metadata: plain.metadata}
}

/**
 * Another tool's layout (`tar czf`, Python's tarfile, `… | age -r`): fetched (unless it is a local file) and
 * decrypted (when encrypted) into a private scratch directory, and read to the end.
 */
async function readThrough(target: BackupTarget, name: string, identities?: IdentitySet): Promise<Wholeness> {
  const label = target.addressOf(name)
  const scratch = await fsp.mkdtemp(path.join(os.tmpdir(), 'vpo-backup-check-'))
  let encrypted = false
  try {
    const metadata = await withLocalPlainArchive(
      {target, name},
      {identities},
      async (plainPath, wasEncrypted) => {
        encrypted = wasEncrypted
        return quickCheckArchive(plainPath)
      },
      {scratchDir: scratch},
    )
    return {whole: true, encrypted, metadata}
  } catch (error) {
    const {code} = error as LibraryBackupError
    if (code === 'KEY_ERROR')
      return {whole: null, encrypted: true, metadata: null, locked: true, problem: (error as Error).message}
    if (code === 'INVALID_ARCHIVE' || code === 'UNSUPPORTED_ARCHIVE') return fault(error as Error, label, encrypted)
    throw error
  } finally {
    await fsp.rm(scratch, {recursive: true, force: true})
  }
}

async function sizeOf(target: BackupTarget, name: string): Promise<number> {
  const found = await target.stat(name)
  if (found) return found.sizeBytes
  throw new LibraryBackupError('BACKUP_NOT_FOUND', `There is no backup at ${target.addressOf(name)}`, {
    hint: 'Check the name (vpo library:backups lists your backups).',
  })
}

function damaged(label: string, reason: string, encrypted: boolean): Wholeness {
  return {whole: false, encrypted, metadata: null, problem: invalidArchive(label, reason).message, damage: reason}
}

/** An archive fault raised by a reader, as an answer; its reason is the message after the name. */
function fault(error: Error, label: string, encrypted: boolean): Wholeness {
  const prefix = `${label} is not a valid VPO backup: `
  const damage = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message
  return {whole: false, encrypted, metadata: null, problem: error.message, damage}
}
