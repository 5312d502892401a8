import fs from 'node:fs'
import path from 'node:path'

import type {Cancellation} from '../cancellation.js'
import type {BackupTarget} from '../storage/target.js'

import {LibraryBackupError} from '../errors.js'
import {pruneBackups, type RetentionPolicy} from '../prune.js'
import {isObjectStoreUrl, openTarget} from '../storage/locations.js'
import {type ArchiveRef, copyArchive} from './copy-archive.js'

/** Where one backup run put its archive: the primary location, or a --copy-to place. */
export interface PlaceOutcome {
  /** The directory or s3:// prefix. */
  location: string
  primary: boolean
  /** The archive there: a path or an s3:// URL; undefined when it is not there. */
  path?: string
  /** Old backups removed there by the --keep-* rules. */
  pruned: string[]
  /** Why the archive is not there, or why pruning there failed. */
  error?: LibraryBackupError
}

/**
 * The --copy-to places, opened and checked before the library is read: one that names a file,
 * the primary location, or another place twice is a typo to report before anything is written.
 * Whether a place can be reached is found when the archive is sent there.
 */
export async function openCopyPlaces(locations: string[], primary: BackupTarget): Promise<BackupTarget[]> {
  const places: BackupTarget[] = []
  for (const location of locations) {
    if (!isObjectStoreUrl(location)) {
      const stats = fs.statSync(path.resolve(location), {throwIfNoEntry: false})
      if (stats && !stats.isDirectory()) {
        throw new LibraryBackupError('NOT_A_DIRECTORY', `--copy-to ${location} is not a directory`, {
          hint: 'Pass --copy-to with a directory or an s3:// prefix to copy the backup into.',
        })
      }
    }

    const target = await openTarget(location)
    const taken = [primary, ...places].find((other) => sameLocation(other.location, target.location))
    if (taken) {
      const what = taken === primary ? 'where the backup is written anyway' : 'given twice'
      throw new LibraryBackupError('USAGE_ERROR', `--copy-to ${location} is ${what}`, {
        hint: 'Give each place once, and not the --output location.',
      })
    }

    places.push(target)
  }

  return places
}

/**
 * Publishes the archive just made at each place, in order, under the same name, then applies the
 * retention rules there (by the same prune service as the primary location). A place that fails
 * is recorded and the next one still tried: a dead USB disk must not keep the backup from going
 * offsite. Nothing is pruned at a place the backup did not reach.
 */
export async function publishCopies(
  from: ArchiveRef,
  places: BackupTarget[],
  options: {
    overwrite?: boolean
    retention?: RetentionPolicy
    stop?: Cancellation
    /** With `overwrite`: may the archive replace the one of the same name at `place`? Throws if not. */
    beforeReplacing?: (place: BackupTarget) => Promise<void>
  },
): Promise<PlaceOutcome[]> {
  const outcomes: PlaceOutcome[] = []
  if (places.length === 0) return outcomes
  // Ctrl-C while a copy is on its way stops it (an upload is aborted, a staged file removed);
  // the archive at the primary location and at the places already done stays.
  options.stop?.reopen(
    `The backup ${from.target.addressOf(from.name)} was written; copies still on their way were abandoned.`,
  )
  for (const place of places) {
    options.stop?.throwIfStopping()
    const outcome: PlaceOutcome = {location: place.location, primary: false, pruned: []}
    outcomes.push(outcome)
    try {
      if (options.overwrite) await options.beforeReplacing?.(place)
      outcome.path = (await copyArchive(from, place, {overwrite: options.overwrite})).path
    } catch (error) {
      outcome.error = asOurs(error)
      continue
    }

    if (!options.retention) continue
    try {
      outcome.pruned = (await pruneBackups(place, options.retention, {createdPath: outcome.path})).removed
    } catch (error) {
      outcome.error = asOurs(error)
    }
  }

  options.stop?.commit()
  return outcomes
}

/**
 * One sentence for a run where some place lacks the backup (or could not be pruned), with the
 * first failure's exit code; undefined when every place has it.
 */
export function placesFailure(name: string, places: PlaceOutcome[]): LibraryBackupError | undefined {
  const failed = places.filter((place) => place.error)
  if (failed.length === 0) return undefined
  const first = failed[0].error!
  const have = places.filter((place) => place.path).map((place) => place.location)
  const lack = places.filter((place) => !place.path)
  const stored = `The backup ${name} is in ${listed(have)}`
  const message =
    lack.length > 0
      ? `${stored}, but not in ${lack.map((place) => `${place.location} (${reason(place.error!)})`).join(', ')}`
      : `${stored}, but pruning ${failed.map((place) => `${place.location} failed (${reason(place.error!)})`).join(', ')}`
  return new LibraryBackupError(first.code, message, {
    cause: first,
    hint:
      lack.length > 0
        ? `Fix that, then copy it with: vpo library:copy ${name} --from ${places[0].location} --to ${lack[0].location}`
        : first.hint,
  })
}

function listed(locations: string[]): string {
  if (locations.length <= 1) return locations[0] ?? 'no place'
  return `${locations.slice(0, -1).join(', ')} and ${locations.at(-1)}`
}

function reason(error: LibraryBackupError): string {
  return error.message.replace(/\.$/, '')
}

function asOurs(error: unknown): LibraryBackupError {
  if (error instanceof LibraryBackupError) return error
  return new LibraryBackupError('IO_ERROR', `Unexpected failure: ${(error as Error).message}`, {cause: error})
}

function sameLocation(a: string, b: string): boolean {
  return a.replace(/\/+$/, '') === b.replace(/\/+$/, '')
}
