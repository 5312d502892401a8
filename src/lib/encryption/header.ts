/**
 * The age header (recipient stanzas + HMAC) is made and checked by age-encryption, the reference
 * implementation; we take the file key from it and run the payload ourselves (see stream.ts).
 */
import {Decrypter, Encrypter, type Identity, type Stanza} from 'age-encryption'

import {invalidArchive, LibraryBackupError} from '../errors.js'
import {ageFileKind, headerLength} from './format.js'
import {type IdentitySet} from './identities.js'
import {noIdentity, noMatchingIdentity} from './key-errors.js'
import {type AgeRecipient} from './recipients.js'
import {NONCE_SIZE, openChunk, payloadKey, TAG_SIZE} from './stream.js'

/** age's own headers are a few hundred bytes; this bounds what a hostile file can make us buffer. */
export const HEADER_MAX = 1024 * 1024

export interface SealedHeader {
  /** Header and payload nonce: the first bytes of the encrypted file. */
  prefix: Buffer
  key: Buffer
}

export async function sealHeader(recipients: readonly AgeRecipient[]): Promise<SealedHeader> {
  if (recipients.length === 0) throw new LibraryBackupError('USAGE_ERROR', 'Encryption needs at least one recipient.')
  const encrypter = new Encrypter()
  for (const recipient of recipients) encrypter.addRecipient(recipient)
  // A recipient that adds no stanza but is handed the file key, through the library's public
  // Recipient interface: the header and its MAC stay the library's work.
  let fileKey: Uint8Array | undefined
  encrypter.addRecipient({
    wrapFileKey(key: Uint8Array): Stanza[] {
      fileKey = Uint8Array.from(key)
      return []
    },
  })
  // An empty file is header, nonce, and one empty last chunk (its tag alone).
  const sealedEmpty = Buffer.from(await encrypter.encrypt(new Uint8Array(0)))
  const prefix = sealedEmpty.subarray(0, sealedEmpty.length - TAG_SIZE)
  const size = headerLength(prefix)
  if (!fileKey || size !== prefix.length - NONCE_SIZE) throw new Error('age-encryption produced an unexpected layout')
  const key = payloadKey(fileKey, prefix.subarray(size))
  // Proves our payload key is the one the library used, so the two halves can't silently disagree.
  openChunk(key, 0, true, sealedEmpty.subarray(prefix.length))
  return {prefix: Buffer.from(prefix), key}
}

export interface OpenedHeader {
  /** Where the payload's first chunk starts. */
  payloadOffset: number
  key: Buffer
}

function refuseOtherAgeKinds(head: Buffer, archivePath: string): void {
  const kind = ageFileKind(head)
  if (kind === 'age') return
  if (kind === 'age-passphrase') {
    throw new LibraryBackupError(
      'UNSUPPORTED_ARCHIVE',
      `${archivePath} was encrypted with a passphrase; VPO backups use age keys: decrypt it with \`age -d\` first.`,
    )
  }

  if (kind === 'age-armored') {
    throw new LibraryBackupError('UNSUPPORTED_ARCHIVE', `${archivePath} is an ASCII-armored age file; decrypt it with \`age -d\` first.`)
  }

  throw invalidArchive(archivePath, 'it is not an age-encrypted file')
}

/**
 * Checks the header of an age file that starts with `head` (it must hold the whole header and the
 * nonce) and derives the payload key. Missing or wrong keys are KEY_ERROR, damage INVALID_ARCHIVE.
 */
export async function openHeader(head: Buffer, identities: IdentitySet, archivePath: string): Promise<OpenedHeader> {
  refuseOtherAgeKinds(head, archivePath)
  const size = headerLength(head.subarray(0, HEADER_MAX))
  if (size === undefined) throw invalidArchive(archivePath, 'its encryption header is truncated or damaged')
  if (head.length < size + NONCE_SIZE) throw invalidArchive(archivePath, 'it ends inside its encryption header')
  if (identities.size === 0) throw noIdentity(archivePath)

  const decrypter = new Decrypter()
  for (const identity of identities.keys) decrypter.addIdentity(identity)
  // The library tries identities in order and stops at the first match, so reaching this last one
  // means none matched: that is a key problem, anything else that fails is damage.
  let noneMatched = false
  const sentinel: Identity = {
    unwrapFileKey() {
      noneMatched = true
      return null
    },
  }
  decrypter.addIdentity(sentinel)
  let fileKey: Uint8Array
  try {
    fileKey = await decrypter.decryptHeader(head.subarray(0, size))
  } catch {
    if (noneMatched) throw noMatchingIdentity(archivePath)
    // The library's messages can quote header bytes; only the fact of failure is passed on.
    throw invalidArchive(archivePath, 'its encryption header failed authentication')
  }

  return {payloadOffset: size + NONCE_SIZE, key: payloadKey(fileKey, head.subarray(size, size + NONCE_SIZE))}
}
