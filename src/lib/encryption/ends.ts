/**
 * Whether an age file is whole, from its head, its tail and its size. age's STREAM framing fixes
 * the payload's length for a given plaintext length (64 KiB chunks, each with a 16-byte tag), and
 * this plugin records the plaintext length in a header stanza of its own, which age and rage
 * ignore as they ignore any stanza that is not theirs (the header MAC still covers it). So a cut
 * or appended file is caught with no key; with a key, the last chunk is also authenticated as the
 * last one at its place, and the first and last plaintext bytes are handed back for the archive's
 * own checks.
 */
import {invalidArchive} from '../errors.js'
import {ageFileKind, headerLength} from './format.js'
import {HEADER_MAX, openHeader} from './header.js'
import {type IdentitySet} from './identities.js'
import {parseHeader, type Stanza} from './stanza.js'
import {CHUNK_SIZE, chunkCount, NONCE_SIZE, openChunk, SEALED_CHUNK_SIZE, TAG_SIZE} from './stream.js'

const LENGTH_STANZA = 'vpo-archive-length'

/** The stanza that records the plaintext's length, so its encrypted length can be checked keyless. */
export function plainLengthStanza(plainSize: number): Stanza {
  return {args: [LENGTH_STANZA, String(plainSize)], body: Buffer.alloc(0)}
}

/** The bytes an age payload of `plainSize` plaintext bytes takes (an empty file is one empty chunk). */
export function sealedPayloadSize(plainSize: number): number {
  return plainSize + Math.max(1, Math.ceil(plainSize / CHUNK_SIZE)) * TAG_SIZE
}

export interface AgeFraming {
  /** What is wrong with the file's size or header, found without a key. */
  problem?: string
  /** The plaintext length, when the size can be trusted to tell it. */
  plainSize?: number
  /** Whether this plugin's stanza recorded the plaintext length (else only the framing was checked). */
  recorded: boolean
}

/** The keyless check: the header is whole and the size fits the framing (and the recorded length). */
export function checkFraming(head: Buffer, size: number): AgeFraming {
  const kind = ageFileKind(head)
  if (kind === 'age-armored')
    return {problem: 'it is an ASCII-armored age file, which VPO backups are not', recorded: false}
  if (kind === 'age-passphrase')
    return {problem: 'it was encrypted with a passphrase, and VPO backups use age keys', recorded: false}
  const headerBytes = headerLength(head.subarray(0, HEADER_MAX))
  if (headerBytes === undefined || size < headerBytes + NONCE_SIZE)
    return {problem: 'its encryption header is truncated or damaged', recorded: false}
  let stanzas: Stanza[]
  try {
    ;({stanzas} = parseHeader(head.subarray(0, headerBytes)))
  } catch {
    return {problem: 'its encryption header is damaged', recorded: false}
  }

  const payload = size - headerBytes - NONCE_SIZE
  const stanza = stanzas.find((entry) => entry.args[0] === LENGTH_STANZA)
  if (stanza) {
    const plainSize = Number(stanza.args[1])
    if (stanza.args.length !== 2 || !Number.isSafeInteger(plainSize) || plainSize < 0)
      return {problem: 'its encryption header is damaged', recorded: true}
    const expected = sealedPayloadSize(plainSize)
    if (payload < expected) return {problem: cutShort(payload, expected), recorded: true}
    if (payload > expected) return {problem: appended(payload - expected), recorded: true}
    return {plainSize, recorded: true}
  }

  try {
    return {plainSize: payload - chunkCount(payload) * TAG_SIZE, recorded: false}
  } catch {
    return {
      problem: 'its encrypted data ends inside a chunk (the file is truncated, or has bytes appended)',
      recorded: false,
    }
  }
}

function cutShort(payload: number, expected: number): string {
  return `the file is truncated (its encrypted data is ${payload} of ${expected} bytes)`
}

function appended(extra: number): string {
  return `it has ${extra} byte${extra === 1 ? '' : 's'} after the end of its encrypted data`
}

export interface OpenedEnds {
  /** The plaintext of the first chunk. */
  plainHead: Buffer
  /** The plaintext of the last two chunks (fewer when the file has fewer). */
  plainTail: Buffer
  plainSize: number
}

/**
 * Opens the header with `identities` (KEY_ERROR when none opens it) and authenticates the first
 * chunk and the last two: a file cut at a chunk boundary fails because its new last chunk was not
 * sealed as the last, and appended bytes because the chunks are not where they were sealed.
 */
export async function openEnds(
  file: {head: Buffer; label: string; readRange: (start: number, bytes: number) => Promise<Buffer>; size: number},
  identities: IdentitySet,
): Promise<OpenedEnds> {
  const {head, label, readRange, size} = file
  const {key, payloadOffset} = await openHeader(head, identities, label)
  const payload = size - payloadOffset
  const damaged = (reason: string) => invalidArchive(label, reason)
  let chunks: number
  try {
    chunks = chunkCount(payload)
  } catch {
    throw damaged('its encrypted data ends inside a chunk (the file is truncated, or has bytes appended)')
  }

  const sealedAt = (index: number) => payloadOffset + index * SEALED_CHUNK_SIZE
  const firstEnd = Math.min(size, sealedAt(1))
  const first =
    head.length >= firstEnd
      ? head.subarray(sealedAt(0), firstEnd)
      : await readRange(sealedAt(0), firstEnd - sealedAt(0))
  const tailFrom = Math.max(0, chunks - 2)
  const tail = await readRange(sealedAt(tailFrom), size - sealedAt(tailFrom))
  try {
    const plainHead = openChunk(key, 0, chunks === 1, first)
    const plainTail: Buffer[] = []
    for (let index = tailFrom; index < chunks; index++) {
      const start = sealedAt(index) - sealedAt(tailFrom)
      plainTail.push(openChunk(key, index, index === chunks - 1, tail.subarray(start, start + SEALED_CHUNK_SIZE)))
    }

    return {plainHead, plainTail: Buffer.concat(plainTail), plainSize: payload - chunks * TAG_SIZE}
  } catch {
    throw damaged('its encrypted data fails authentication (the file is truncated, altered, or has bytes appended)')
  }
}
