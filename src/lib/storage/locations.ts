import path from 'node:path'

import type {BackupTarget} from './target.js'

import {LocalDirectory} from './local-directory.js'
import {isS3Url, splitS3Output} from './s3-url.js'

/**
 * The one place where what a user typed (`--path`, `--output`, `BACKUP_FILE`, `--from`) becomes a
 * target and, for a single archive, its name there. How an `s3://` URL is parsed stays in
 * ./s3-url.ts; the object-store client is loaded only here, only for an `s3://` location, so
 * local commands never pay for it.
 */

/** `s3://bucket/prefix/`: the only object-store scheme; anything else is a local path. */
export function isObjectStoreUrl(location: string): boolean {
  return isS3Url(location)
}

/** A directory or a prefix holding backups. */
export async function openTarget(location: string): Promise<BackupTarget> {
  if (isObjectStoreUrl(location)) {
    const {openObjectStore} = await import('./object-store.js')
    return openObjectStore(location.endsWith('/') ? location : `${location}/`)
  }

  return new LocalDirectory(location)
}

/**
 * A single archive: the target that holds it and its name there. With `besides`, a bare name
 * (no directory, no URL) is an archive in that target, as `library:copy --from DIR NAME` means.
 */
export async function locateArchive(
  location: string,
  options: {besides?: BackupTarget} = {},
): Promise<{name: string; target: BackupTarget}> {
  if (isObjectStoreUrl(location)) {
    const slash = location.lastIndexOf('/')
    return {target: await openTarget(location.slice(0, slash + 1)), name: location.slice(slash + 1)}
  }

  if (options.besides && !location.includes('/') && !location.includes(path.sep))
    return {target: options.besides, name: location}
  const resolved = path.resolve(location)
  return {target: new LocalDirectory(path.dirname(resolved)), name: path.basename(resolved)}
}

/**
 * An `s3://` `--output`: the prefix, and the object name when the URL ends in one (./s3-url.ts
 * says which). Undefined for a local path, whose split depends on what is on disk
 * (../repository/backup-destination.ts).
 */
export async function locateObjectStoreOutput(
  output: string,
): Promise<undefined | {name?: string; target: BackupTarget}> {
  if (!isObjectStoreUrl(output)) return undefined
  const {prefixUrl, name} = splitS3Output(output)
  return {target: await openTarget(prefixUrl), name}
}
