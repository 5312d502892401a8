/* eslint-disable mocha/no-exports, mocha/no-top-level-hooks -- useArchivedLibrary's hook runs inside the calling describe() */
/**
 * The usual start of a restore test: a library whose content is noted, and a library backed up by
 * the real CLI, with what a restore of its archive must give back.
 */
import type {LibraryOptions} from '../fixtures/library-generator.js'

import {archiveOf, type DataDir, libraryContent, makeDataDir} from './libraries.js'

/** A library (as makeDataDir makes it) with its logical content noted, to tell whether a command replaced it. */
export interface KnownLibrary extends DataDir {
  /** libraryContent(...).digest of the library as it was made. */
  digest: string
}

export function knownLibrary(options: Partial<LibraryOptions> = {}): KnownLibrary {
  const library = makeDataDir(options)
  return {...library, digest: libraryContent(library.databasePath).digest}
}

/** A known library backed up by the real CLI: a restore of `archive` must give back `digest`. */
export interface ArchivedLibrary extends KnownLibrary {
  archive: string
  /** The archived database's checksum, as the backup reported it. */
  databaseSha256: string
}

/** Makes a library (makeDataDir's options) and backs it up. */
export async function archivedLibrary(options: Partial<LibraryOptions> = {}): Promise<ArchivedLibrary> {
  const library = knownLibrary(options)
  const made = await archiveOf(library)
  return {...library, archive: made.path, databaseSha256: made.sha256}
}

/**
 * An archived library made before the calling describe's tests and shared by them (none may
 * change it): the object is filled in by that `before`.
 */
export function useArchivedLibrary(options: Partial<LibraryOptions> = {}): ArchivedLibrary {
  const library = {} as ArchivedLibrary
  before(async () => {
    Object.assign(library, await archivedLibrary(options))
  })
  return library
}
