import type {OpenableArchive} from '../archive/source.js'

/**
 * Where backups live. A target only stores, lists and fetches finished archives: every archive
 * is built in a local, seekable file first (its metadata is written at offset 0 last), then
 * committed to the target under its final name.
 *
 * Callers ask a target what they need (is it there, how big, is there a file I can open in place)
 * rather than which kind it is: the local directory (./local-directory.ts), the object store
 * (./s3-bucket.ts) and the in-memory store for tests (./memory.ts) pass the same contract suite
 * (test/lib/storage-contract.ts).
 */
export interface StoredArchive {
  /** The archive's name inside the target: a file name, or the key below the prefix. */
  name: string
  sizeBytes: number
  modifiedAt: Date
}

/** A local file holding an archive's bytes; `dispose` removes it when it is a downloaded copy. */
export interface FetchedArchive {
  path: string
  dispose(): void
}

/** An archive still downloading into a scratch file, readable as it arrives (./streamed-download.ts). */
export interface StreamedArchive extends OpenableArchive {
  readonly size: number
  /** The first `bytes` bytes (fewer when the archive is shorter), once they arrived. */
  head(bytes: number): Promise<Buffer>
  /** Resolves once the archive is whole and passed the download's checks. */
  whole(): Promise<void>
  /** Stops the download if it still runs, and removes the scratch file. */
  dispose(): Promise<void>
}

export interface BackupTarget {
  /** How the user names it: `/home/u/.vpo/backups` or `s3://bucket/prefix/`. */
  readonly location: string

  /** The full user-facing name of one archive: a path, or an `s3://` URL. */
  addressOf(name: string): string

  /**
   * Where `name` is (or would be) a file on a mounted filesystem, so it can be opened in place;
   * undefined when the target keeps its bytes elsewhere (an object store, memory).
   */
  localPath(name: string): string | undefined

  /**
   * The archives in the target whose names `isCandidate` accepts, as regular objects: a
   * directory or a dangling link named like a backup is never listed. A missing location lists
   * as empty; a location that cannot be listed throws a LibraryBackupError.
   */
  list(isCandidate: (name: string) => boolean): Promise<StoredArchive[]>

  /**
   * The one archive `name`, as list() would show it; undefined when there is none (a missing
   * name, a missing location, or something that is not a regular archive).
   */
  stat(name: string): Promise<StoredArchive | undefined>

  /** The first `bytes` bytes of an archive (fewer when it is shorter). A missing name throws. */
  readHead(name: string, bytes: number): Promise<Buffer>

  /**
   * The `bytes` bytes at `start` (fewer at the end of the archive, none past it): with readHead,
   * what tells whether an archive is whole without reading it all (../repository/wholeness.ts). A missing
   * name throws.
   */
  readRange(name: string, start: number, bytes: number): Promise<Buffer>

  /**
   * The archive as a local file. A local directory hands out the file itself (no copy); any
   * other target downloads it into `scratchDir`, or into a private scratch directory of its own
   * when none is given, and checks the length it promised. A missing name throws.
   */
  fetch(name: string, scratchDir?: string): Promise<FetchedArchive>

  /**
   * Only where a download costs time (an object store): the archive downloading into
   * `scratchDir`, readable before it is whole. Resolves once the store answered with its size; a
   * missing name throws, as fetch() does.
   */
  stream?(name: string, scratchDir: string): Promise<StreamedArchive>

  /**
   * Where a new archive is staged before commit: a directory on the target's own filesystem for a
   * local directory (so the commit is a link, not a copy), a private scratch directory otherwise.
   * Created (0700) when missing.
   */
  prepareStaging(): Promise<string>

  /** Takes back the directories prepareStaging created, after a failure left them empty. */
  abandonStaging(): Promise<void>

  /**
   * Publishes a finished local archive under `name`. Without `overwrite`, an existing archive of
   * that name is never replaced: returns false and changes nothing. The archive appears under its
   * name only once it is whole and durable, and its stored bytes are checked against the staged
   * file before this resolves. The staged file is consumed (moved or removed) on success.
   */
  commit(stagedFile: string, name: string, options: {overwrite: boolean}): Promise<boolean>

  /** Deletes one archive; an archive already gone is not an error. */
  remove(name: string): Promise<void>
}
