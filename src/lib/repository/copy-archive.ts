import fs from 'node:fs'
import fsp from 'node:fs/promises'

import type {AgeRecipient} from '../encryption/index.js'
import type {BackupTarget} from '../storage/target.js'

import {encryptStaged} from '../encryption/encrypted-archives.js'
import {fromSystemError, LibraryBackupError} from '../errors.js'
import {assertSpaceFor} from '../fs/disk-space.js'
import {removeAbandonedTemps, removeTemp, tempPathIn} from '../fs/temp-files.js'
import {checkBeforeSending} from './copy-check.js'

export interface ArchiveRef {
  target: BackupTarget
  name: string
  /** Its size, when listed: a download is then checked against the free space first. */
  sizeBytes?: number
}

export interface CopiedArchive {
  /** The name at the destination: the source's, plus `.age` when it was encrypted on the way. */
  name: string
  path: string
  sizeBytes: number
  encryptedOnTheWay: boolean
}

/**
 * Copies one archive to `to` under the same name. The bytes are staged where the destination
 * stages (its own filesystem, or a private scratch directory for an object store), checked, then
 * committed: the destination's commit publishes them whole under the name or not at all, and an
 * object store reads them back. A local copy is also compared with its source once in place. The
 * source is only ever read.
 */
export async function copyArchive(
  from: ArchiveRef,
  to: BackupTarget,
  options: {overwrite?: boolean; recipients?: AgeRecipient[]} = {},
): Promise<CopiedArchive> {
  const label = from.target.addressOf(from.name)
  let doing = `preparing ${to.location}`
  // A source with a file on disk is copied from it; any other is downloaded straight into staging.
  let onDisk: string | undefined
  let staged: string | undefined
  let source: Awaited<ReturnType<BackupTarget['fetch']>> | undefined
  try {
    const staging = await to.prepareStaging()
    removeAbandonedTemps(staging)
    doing = `reading ${label}`
    onDisk = from.target.localPath(from.name)
    if (onDisk === undefined) {
      if (from.sizeBytes !== undefined)
        await assertSpaceFor([{directory: staging, bytes: from.sizeBytes, purpose: `the download of ${from.name}`}])
      source = await from.target.fetch(from.name, staging)
      // The download is a private temporary file already: it is staged as it is.
      staged = source.path
    } else {
      const {size} = await fsp.stat(onDisk)
      await assertSpaceFor([{directory: staging, bytes: size, purpose: `the copy of ${from.name}`}])
      staged = tempPathIn(staging, 'copy.tar.gz')
      doing = `copying ${label} into ${staging}`
      await fsp.copyFile(onDisk, staged, fs.constants.COPYFILE_EXCL)
      await syncFile(staged)
    }

    const {encrypted} = await checkBeforeSending(staged, label)
    let {name} = from
    if (options.recipients && !encrypted) {
      doing = `encrypting ${label}`
      const plain = staged
      staged = undefined // encryptStaged consumes the plain file either way
      staged = (await encryptStaged(plain, staging, options.recipients)).path
      name = `${from.name}.age`
    }

    const {size: sizeBytes} = await fsp.stat(staged)
    doing = `storing ${name} in ${to.location}`
    if (!(await to.commit(staged, name, {overwrite: Boolean(options.overwrite)}))) {
      throw new LibraryBackupError('OUTPUT_EXISTS', `${to.addressOf(name)} appeared while it was being copied`, {
        hint: 'Compare the two, then run the copy again.',
      })
    }

    staged = undefined
    const copyOnDisk = to.localPath(name)
    if (onDisk !== undefined && copyOnDisk !== undefined && name === from.name)
      await assertSameBytes(onDisk, copyOnDisk, to, name)
    return {name, path: to.addressOf(name), sizeBytes, encryptedOnTheWay: name !== from.name}
  } catch (error) {
    await to.abandonStaging()
    throw fromSystemError(error, doing)
  } finally {
    if (staged) removeTemp(staged)
    source?.dispose()
  }
}

/** The copy in place, read back and compared with its source; a copy that differs is removed. */
async function assertSameBytes(sourcePath: string, copyPath: string, to: BackupTarget, name: string): Promise<void> {
  if (await sameBytes(sourcePath, copyPath)) return
  await to.remove(name)
  throw new LibraryBackupError('IO_ERROR', `The copy ${copyPath} differs from ${sourcePath}, so it was removed`, {
    hint: 'Check the destination disk, then run the copy again.',
  })
}

export async function sameBytes(a: string, b: string): Promise<boolean> {
  const [left, right] = await Promise.all([fsp.open(a, 'r'), fsp.open(b, 'r')])
  try {
    const [leftStat, rightStat] = await Promise.all([left.stat(), right.stat()])
    if (leftStat.size !== rightStat.size) return false
    const size = 1024 * 1024
    const bufferA = Buffer.alloc(size)
    const bufferB = Buffer.alloc(size)
    for (let offset = 0; offset < leftStat.size; offset += size) {
      const [readA, readB] = await Promise.all([
        left.read(bufferA, 0, size, offset),
        right.read(bufferB, 0, size, offset),
      ])
      if (readA.bytesRead !== readB.bytesRead) return false
      if (!bufferA.subarray(0, readA.bytesRead).equals(bufferB.subarray(0, readB.bytesRead))) return false
    }

    return true
  } finally {
    await Promise.all([left.close(), right.close()])
  }
}

async function syncFile(file: string): Promise<void> {
  const handle = await fsp.open(file, 'r+')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
