/**
 * Making and checking the age header: wrap a fresh file key for every recipient, MAC the header
 * with a key derived from the file key, and derive the payload key (age-encryption.org/v1).
 */
import crypto from 'node:crypto'

import {invalidArchive, LibraryBackupError} from '../errors.js'
import {ageFileKind, headerLength} from './format.js'
import {type IdentitySet} from './identities.js'
import {noIdentity, noMatchingIdentity} from './key-errors.js'
import {
  encodeHeader,
  encodeHeaderWithoutMac,
  type ParsedHeader,
  parseHeader,
  type Recipient,
  type Stanza,
} from './stanza.js'
import {NONCE_SIZE, payloadKey} from './stream.js'

/** age's own headers are a few hundred bytes; this bounds what a hostile file can make us buffer. */
export const HEADER_MAX = 1024 * 1024

function headerMac(fileKey: Buffer, withoutMac: Buffer): Buffer {
  const macKey = Buffer.from(crypto.hkdfSync('sha256', fileKey, Buffer.alloc(0), 'header', 32))
  return crypto.createHmac('sha256', macKey).update(withoutMac).digest()
}

export interface SealedHeader {
  /** Header and payload nonce: the first bytes of the encrypted file. */
  prefix: Buffer
  key: Buffer
}

/** `extraStanzas` go after the recipients' (recipients ignore stanzas that are not theirs). */
export async function sealHeader(recipients: readonly Recipient[], extraStanzas: Stanza[] = []): Promise<SealedHeader> {
  if (recipients.length === 0)
    throw new LibraryBackupError('USAGE_ERROR', 'Encryption needs at least one recipient', {
      hint: 'Pass --encrypt-to or --recipients-file.',
    })
  const fileKey = crypto.randomBytes(16)
  const stanzas = []
  for (const recipient of recipients) stanzas.push(...(await recipient.wrapFileKey(fileKey)))
  stanzas.push(...extraStanzas)
  const header = encodeHeader(stanzas, headerMac(fileKey, encodeHeaderWithoutMac(stanzas)))
  const nonce = crypto.randomBytes(NONCE_SIZE)
  return {prefix: Buffer.concat([header, nonce]), key: payloadKey(fileKey, nonce)}
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
      `${archivePath} was encrypted with a passphrase, and VPO backups use age keys`,
      {
        hint: 'Decrypt it with `age -d` first, then restore the .tar.gz.',
      },
    )
  }

  if (kind === 'age-armored') {
    throw new LibraryBackupError('UNSUPPORTED_ARCHIVE', `${archivePath} is an ASCII-armored age file`, {
      hint: 'Decrypt it with `age -d` first, then restore the .tar.gz.',
    })
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

  let header: ParsedHeader
  let fileKey: Buffer | null = null
  try {
    header = parseHeader(head.subarray(0, size))
    for (const identity of identities.keys) {
      fileKey = await identity.unwrapFileKey(header.stanzas)
      if (fileKey) break
    }
  } catch {
    // Parse and unwrap messages may quote header bytes; only the fact of failure is passed on.
    throw invalidArchive(archivePath, 'its encryption header is damaged')
  }

  if (!fileKey) {
    // age 1.3's hybrid ML-KEM-768 + X25519 recipients (age1pq1…): a stanza no key of ours can open.
    if (header.stanzas.some((stanza) => stanza.args[0] === 'mlkem768x25519')) {
      throw new LibraryBackupError(
        'UNSUPPORTED_ARCHIVE',
        `${archivePath} is encrypted to a post-quantum age key (age1pq1…), which VPO backups do not support yet`,
        {hint: 'Decrypt it with `age -d` (age 1.3 or newer) first, then restore the .tar.gz.'},
      )
    }

    throw noMatchingIdentity(archivePath)
  }

  if (fileKey.length !== 16 || !crypto.timingSafeEqual(headerMac(fileKey, header.withoutMac), header.mac)) {
    throw invalidArchive(archivePath, 'its encryption header failed authentication')
  }

  return {payloadOffset: size + NONCE_SIZE, key: payloadKey(fileKey, head.subarray(size, size + NONCE_SIZE))}
}
