import fsp from 'node:fs/promises'

import {invalidArchive} from '../errors.js'
import {assertGzipContainer, describeGzipError} from './gzip-container.js'
import {GzipFormatError, inflateFirstMember, inflateMemberAt, readMemberLayout} from './gzip-inflate.js'
import {type BackupMetadata, DATABASE_MEMBER, METADATA_MEMBER, parseMetadata} from './metadata.js'
import {ArchiveScan, BLOCK, REGULAR_TYPES} from './reader.js'
import {tar} from './tar-module.js'

/** How many bytes of an archive hold its metadata when this plugin wrote it: the stored first member. */
export const HEAD_BYTES = 64 * 1024

export interface ArchiveHead {
  metadata: BackupMetadata
  /** The tar bytes of the metadata member (header and padded content): where library.db's header starts. */
  metadataTarBytes: number
}

/**
 * The metadata from an archive's first bytes, when it is this plugin's layout (a stored first
 * member holding `backup_metadata.json`); undefined for any other layout, which must be read whole.
 */
export function readHead(head: Buffer, archiveName: string): ArchiveHead | undefined {
  let tarBytes: Buffer | undefined
  try {
    tarBytes = inflateFirstMember(head)
  } catch (error) {
    throw invalidArchive(archiveName, describeGzipError(error as NodeJS.ErrnoException), error)
  }

  if (!tarBytes || tarBytes.length < BLOCK) return undefined
  const {Header} = tar()
  const header = new Header(tarBytes.subarray(0, BLOCK))
  if (header.path !== METADATA_MEMBER || !REGULAR_TYPES.has(header.type ?? '') || header.size === undefined)
    return undefined
  if (!header.cksumValid)
    throw invalidArchive(archiveName, 'its tar structure is damaged (a header fails its checksum)')
  if (BLOCK + header.size > tarBytes.length) throw invalidArchive(archiveName, `${METADATA_MEMBER} is cut short`)
  const metadata = parseMetadata(tarBytes.subarray(BLOCK, BLOCK + header.size), archiveName)
  return {metadata, metadataTarBytes: BLOCK + roundUp(header.size)}
}

/**
 * Whether a local archive in this plugin's layout is whole: its members tile the file exactly and
 * inflate to the tar its metadata implies (a whole member missing or added changes that). Reads
 * member headers and trailers only. Returns the problem, or undefined.
 */
export async function structureProblem(archivePath: string, head: ArchiveHead): Promise<string | undefined> {
  const layout = await readMemberLayout(archivePath)
  if (layout.cutShort) return 'the file is truncated'
  if (layout.end < layout.fileSize) return 'it has bytes after the end of the archive, or a damaged gzip member'
  const size = head.metadata.database_size_bytes
  const expected = head.metadataTarBytes + BLOCK + roundUp(size) + 2 * BLOCK
  if (layout.inflatedBytes < expected) return 'the archive ends early (the file is truncated)'
  if (layout.inflatedBytes > expected) return 'it holds more data than its metadata declares'
  return undefined
}

function roundUp(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK
}

/**
 * `verify --quick`: the structure only. For this plugin's layout: the metadata, every member's
 * header and trailer, the database's tar header and the end-of-archive blocks, without inflating
 * the database. Any other layout has no index to walk, so it is read through (still without a
 * database check). Returns the metadata, or throws INVALID_ARCHIVE.
 */
export async function quickCheckArchive(archivePath: string): Promise<BackupMetadata> {
  await assertGzipContainer(archivePath)
  const handle = await fsp.open(archivePath, 'r')
  const headBytes = Buffer.alloc(HEAD_BYTES)
  const {bytesRead} = await handle.read(headBytes, 0, HEAD_BYTES, 0).finally(() => handle.close())
  const head = readHead(headBytes.subarray(0, bytesRead), archivePath)
  if (!head) return (await new ArchiveScan(archivePath, {}).run()).metadata!
  const problem = await structureProblem(archivePath, head)
  if (problem) throw invalidArchive(archivePath, problem)
  const layout = await readMemberLayout(archivePath)
  const bound = (index: number) => layout.offsets[index] ?? layout.end
  try {
    const databaseHeader = await inflateMemberAt(archivePath, bound(1), bound(2))
    const {Header} = tar()
    const header = new Header(databaseHeader.subarray(0, BLOCK))
    if (
      databaseHeader.length !== BLOCK ||
      !header.cksumValid ||
      header.path !== DATABASE_MEMBER ||
      !REGULAR_TYPES.has(header.type ?? '')
    ) {
      throw invalidArchive(archivePath, `its ${DATABASE_MEMBER} tar header is damaged`)
    }

    if (header.size !== head.metadata.database_size_bytes) {
      throw invalidArchive(
        archivePath,
        `${DATABASE_MEMBER} holds ${header.size} bytes but the metadata declares ${head.metadata.database_size_bytes}`,
      )
    }

    const ending = await inflateMemberAt(archivePath, bound(layout.members - 1), layout.end)
    if (ending.some((byte) => byte !== 0)) throw invalidArchive(archivePath, 'its end-of-archive blocks are damaged')
  } catch (error) {
    if (error instanceof GzipFormatError) throw invalidArchive(archivePath, error.message)
    throw error
  }

  return head.metadata
}
