import path from 'node:path'

import type {BackupTarget} from './target.js'

import {LocalDirectory} from './local-directory.js'
import {isS3Url} from './s3-url.js'

/** `s3://bucket/prefix/`: the only remote scheme; anything else is a local path. */
export function isObjectStoreUrl(location: string): boolean {
  return isS3Url(location)
}

/**
 * The one place a `--path`/`--output` value becomes a target: a local directory, or an object
 * store prefix. The object-store client is loaded only here, only for an `s3://` location, so
 * local commands never pay for it.
 */
export async function openTarget(location: string): Promise<BackupTarget> {
  if (isObjectStoreUrl(location)) {
    const {openObjectStore} = await import('./object-store.js')
    return openObjectStore(location.endsWith('/') ? location : `${location}/`)
  }

  return new LocalDirectory(location)
}

/** A single archive (`BACKUP_FILE`): the target that holds it and its name there. */
export async function locateArchive(location: string): Promise<{name: string; target: BackupTarget}> {
  if (isObjectStoreUrl(location)) {
    const slash = location.lastIndexOf('/')
    return {target: await openTarget(location.slice(0, slash + 1)), name: location.slice(slash + 1)}
  }

  const resolved = path.resolve(location)
  return {target: new LocalDirectory(path.dirname(resolved)), name: path.basename(resolved)}
}
