/**
 * Whether a plain archive is whole, from its first kilobytes, its last bytes and its size: what a
 * listing can afford for every archive, local or remote. This plugin's layout says in its head how
 * long the file must be (the first member's "VL" subfield), what `library.db` holds (the metadata
 * and the database's tar header, both in the head) and so which end-of-archive member must close
 * it. Any other layout (VPO's Python tool, GNU tar) has no such head and must be read through.
 */
import {LibraryBackupError} from '../errors.js'
import {inflateFirstMember} from './gzip-inflate.js'
import {declaredArchiveLength, indexedMemberLength, inflateLastMember} from './gzip-members.js'
import {type ArchiveHead, HEAD_BYTES, readHead} from './head.js'
import {type BackupMetadata, DATABASE_MEMBER} from './metadata.js'
import {tar} from './tar-module.js'

const BLOCK = 512
/** The end-of-archive member inflates to at most 1,535 zero bytes: a few dozen bytes compressed. */
export const TAIL_BYTES = 1024

export type PlainWholeness =
  /** Whole. `declared` is false for this plugin's archives from before the length was recorded. */
  | {declared: boolean; head: ArchiveHead; metadata: BackupMetadata}
  /** Not whole: `reason` says why, in a few words. */
  | {reason: string}
  /** Another tool's layout: only reading it through tells. */
  | {otherLayout: true}

/** `tail` is the last TAIL_BYTES of the file (all of it when shorter). */
export function plainWholeness(head: Buffer, tail: Buffer, size: number, label: string): PlainWholeness {
  if (size === 0) return {reason: 'the file is empty'}
  if (head.toString('latin1', 0, 2) === 'PK') return {reason: 'it is a ZIP file, and ZIP is not supported'}
  if (head[0] !== 0x1f || head[1] !== 0x8b) return {reason: 'it is not a gzip-compressed tar archive'}
  let archiveHead: ArchiveHead | undefined
  try {
    archiveHead = readHead(head.subarray(0, HEAD_BYTES), label)
  } catch (error) {
    if (!(error instanceof LibraryBackupError) || error.code !== 'INVALID_ARCHIVE') throw error
    return {reason: error.message.slice(`${label} is not a valid VPO backup: `.length)}
  }

  if (!archiveHead) return {otherLayout: true}
  const declared = declaredArchiveLength(head)
  if (declared !== undefined && size < declared) return {reason: `the file is truncated (${size} of ${declared} bytes)`}
  if (declared !== undefined && size > declared) {
    const extra = size - declared
    return {reason: `it has ${extra} byte${extra === 1 ? '' : 's'} after the end of the archive`}
  }

  const databaseSize = archiveHead.metadata.database_size_bytes
  const headMember = indexedMemberLength(head)!
  if (headMember >= size) return {reason: 'the archive ends early (the file is truncated)'}
  const problem = databaseHeaderProblem(head.subarray(headMember), databaseSize)
  if (problem) return {reason: problem}
  const end = inflateLastMember(tail)
  const padding = (BLOCK - (databaseSize % BLOCK)) % BLOCK
  if (!end || end.length !== padding + 2 * BLOCK || end.some((byte) => byte !== 0)) {
    return {
      reason:
        declared === undefined
          ? 'it does not end with its end-of-archive blocks (the file is truncated, or has bytes appended)'
          : 'its end-of-archive blocks are damaged',
    }
  }

  return {declared: declared !== undefined, head: archiveHead, metadata: archiveHead.metadata}
}

/** The second member holds library.db's tar header alone; it must say the size the metadata says. */
function databaseHeaderProblem(rest: Buffer, databaseSize: number): string | undefined {
  let block: Buffer | undefined
  try {
    block = inflateFirstMember(rest)
  } catch {
    return `its ${DATABASE_MEMBER} tar header is damaged`
  }

  if (!block) return `its ${DATABASE_MEMBER} tar header is missing or damaged`
  const {Header} = tar()
  const header = new Header(block.subarray(0, BLOCK))
  if (block.length !== BLOCK || !header.cksumValid || header.path !== DATABASE_MEMBER)
    return `its ${DATABASE_MEMBER} tar header is damaged`
  if (header.size !== databaseSize)
    return `${DATABASE_MEMBER} holds ${header.size} bytes but the metadata declares ${databaseSize}`
  return undefined
}
