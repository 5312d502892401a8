export {type ArchiveHead, HEAD_BYTES, quickCheckArchive, readHead, structureProblem} from './head.js'
/**
 * The backup archive format, version 1: a gzip-compressed tar whose root holds exactly
 * `backup_metadata.json` and `library.db`, regular files with mode 0600. VPO's Python tool writes
 * and reads the same format. The modules in this folder are the only places that know it:
 *
 * - metadata.ts: the member names and the metadata fields, and their validation;
 * - gzip-members.ts: the gzip stream as independent, indexed members;
 * - writer.ts: metadata first (so a listing reads a few kilobytes), as a stored gzip member, then
 *   the database as independent gzip members compressed in parallel;
 * - reader.ts: either member order, every rule checked, nothing extracted by an archive's name;
 * - head.ts: a head read and a structure check that inflate nothing but the metadata;
 * - gzip-container.ts: a gzip file by its content, not its name, before anything is inflated.
 */
export {type BackupMetadata, DATABASE_MEMBER, METADATA_MAX_BYTES, METADATA_MEMBER, parseMetadata} from './metadata.js'
export {type ArchiveContents, extractDatabase, readArchiveMetadata} from './reader.js'
export {estimateArchiveSize, type Progress, writeArchive, type WriteArchiveOptions} from './writer.js'
