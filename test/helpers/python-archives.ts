/**
 * Archives made and read with Python's tarfile, as VPO's own tool makes and reads them, never with
 * the code under test: ONE parameterised writer and ONE reader/validator, each a single Python script.
 */
import {python} from './python.js'

/** A member of an archive to write: a regular file (from a file, a text or zeros) or a special entry. */
export interface ArchiveMember {
  name: string
  type?: 'chr' | 'dir' | 'fifo' | 'file' | 'hardlink' | 'symlink'
  /** The content of a regular file: the bytes of this file... */
  source?: string
  /** ...or this text (UTF-8)... */
  text?: string
  /** ...or this many zero bytes, streamed (decompression bombs). */
  zeros?: number
  linkname?: string
  /** Add `source` with tarfile.add(), recording its own mode, mtime and owner, as VPO's tool does. */
  added?: boolean
}

export interface WriteArchiveOptions {
  format?: 'gnu' | 'pax' | 'ustar'
  /** gzip level (9 is what tarfile.open(..., 'w:gz') uses). */
  compresslevel?: number
  /** The gzip header's mtime; null for now (as tarfile.open(..., 'w:gz') does). */
  gzipMtime?: null | number
}

const WRITER = `
import gzip, io, json, sys, tarfile

spec = json.load(sys.stdin)

class Zeros(io.RawIOBase):
    def __init__(self, n): self.left = n
    def readable(self): return True
    def readinto(self, b):
        n = min(len(b), self.left)
        b[:n] = bytes(n)
        self.left -= n
        return n

fmt = {'pax': tarfile.PAX_FORMAT, 'ustar': tarfile.USTAR_FORMAT, 'gnu': tarfile.GNU_FORMAT}[spec['format']]
with open(spec['out'], 'wb') as raw:
    gz = gzip.GzipFile(fileobj=raw, mode='wb', compresslevel=spec['compresslevel'], mtime=spec['gzipMtime'])
    with tarfile.open(fileobj=gz, mode='w', format=fmt) as tf:
        for m in spec['members']:
            if m.get('added'):
                tf.add(m['source'], arcname=m['name'])
                continue
            info = tarfile.TarInfo(m['name'])
            info.mode = 0o600
            info.mtime = 1770300000
            kind = m.get('type', 'file')
            if kind == 'file':
                if 'source' in m:
                    data = open(m['source'], 'rb').read()
                    info.size = len(data)
                    tf.addfile(info, io.BytesIO(data))
                elif 'text' in m:
                    data = m['text'].encode()
                    info.size = len(data)
                    tf.addfile(info, io.BytesIO(data))
                else:
                    info.size = m['zeros']
                    tf.addfile(info, io.BufferedReader(Zeros(m['zeros']), 1 << 20))
                continue
            info.type = {'symlink': tarfile.SYMTYPE, 'hardlink': tarfile.LNKTYPE, 'dir': tarfile.DIRTYPE,
                         'fifo': tarfile.FIFOTYPE, 'chr': tarfile.CHRTYPE}[kind]
            info.linkname = m.get('linkname', '')
            if kind == 'chr':
                info.devmajor, info.devminor = 1, 3
            tf.addfile(info)
    gz.close()
`

/** Writes a gzip-compressed tar of `members`, in that order, with Python's tarfile. */
export function writeArchiveWithPython(out: string, members: ArchiveMember[], options: WriteArchiveOptions = {}): void {
  const spec = {
    out,
    members,
    format: options.format ?? 'pax',
    compresslevel: options.compresslevel ?? 6,
    gzipMtime: options.gzipMtime === undefined ? 0 : options.gzipMtime,
  }
  // The description goes through stdin: a metadata member over 1 MiB is too long for argv.
  const result = python(WRITER, [], JSON.stringify(spec))
  if (result.status !== 0) throw new Error(`writing ${out} with Python's tarfile failed: ${result.stderr}`)
}

/** Writes an archive the way VPO's Python tool does: tarfile "w:gz", library.db first, no checksum. */
export function writePythonArchive(databasePath: string, archivePath: string, metadata: Record<string, unknown>): void {
  writeArchiveWithPython(
    archivePath,
    [
      {name: 'library.db', source: databasePath, added: true},
      {name: 'backup_metadata.json', text: JSON.stringify(metadata, null, 2)},
    ],
    {compresslevel: 9, gzipMtime: null},
  )
}

const READER = `
import hashlib, json, os, shutil, sqlite3, sys, tarfile, tempfile
spec = json.loads(sys.argv[1])
validate, extract, sql = spec['validate'], spec['extract'], spec['sql']
result = dict(ok=True, reason=None, members=[], metadata=None, databaseSha256=None, databaseSize=None)
scratch = []

def done(reason=None):
    if reason is not None: result.update(ok=False, reason=reason)
    for s in scratch:
        try: os.remove(s)
        except OSError: pass
    print(json.dumps(result)); sys.exit(0)

try:
    try:
        tf = tarfile.open(spec['archive'], 'r:gz')
        members = tf.getmembers()
    except Exception as e:
        done('tar: %s' % e)
    for m in members:
        kind = 'file' if m.isreg() else 'dir' if m.isdir() else 'symlink' if m.issym() else 'link' if m.islnk() else 'other'
        result['members'].append({'name': m.name, 'type': kind, 'mode': m.mode, 'size': m.size})
    names = [m.name for m in members]
    if validate:
        if sorted(names) != ['backup_metadata.json', 'library.db']: done('members %r' % names)
        for m in members:
            if not m.isreg(): done('%s not regular' % m.name)
    meta = None
    if 'backup_metadata.json' in names:
        try:
            meta = json.loads(tf.extractfile('backup_metadata.json').read())
        except Exception as e:
            done('metadata: %s' % e)
        result['metadata'] = meta
    if validate:
        for f in ['vpo_version', 'schema_version', 'created_at', 'database_size_bytes', 'file_count', 'total_library_size_bytes', 'compression']:
            if f not in meta: done('metadata lacks %s' % f)
    for name, destination in extract.items():
        if name == 'library.db': continue
        with open(destination, 'wb') as out: shutil.copyfileobj(tf.extractfile(tf.getmember(name)), out)
    if 'library.db' in names:
        copy = extract.get('library.db')
        if copy is None and (validate or sql):
            fd, copy = tempfile.mkstemp(suffix='.db'); os.close(fd)
            scratch.extend(copy + s for s in ['', '-wal', '-shm', '-journal'])
        dst = open(copy, 'wb') if copy else None
        h = hashlib.sha256(); n = 0
        src = tf.extractfile('library.db')
        while True:
            b = src.read(1 << 20)
            if not b: break
            h.update(b); n += len(b)
            if dst: dst.write(b)
        if dst: dst.close()
        result.update(databaseSha256=h.hexdigest(), databaseSize=n)
        if validate:
            if n != meta['database_size_bytes']: done('size %d != %d' % (n, meta['database_size_bytes']))
            if meta.get('database_sha256') and meta['database_sha256'] != h.hexdigest(): done('checksum mismatch')
        if validate or sql:
            db = sqlite3.connect(copy)
            if validate:
                ic = db.execute('PRAGMA integrity_check').fetchone()[0]
                if ic != 'ok': done('integrity_check: %s' % ic)
                rows, total = db.execute('SELECT COUNT(*), COALESCE(SUM(size_bytes), 0) FROM files').fetchone()
                result.update(rows=rows, totalSize=total)
            result['sql'] = {key: db.execute(query).fetchone()[0] for key, query in sql.items()}
            db.close()
    elif validate or extract.get('library.db') or sql:
        done('no library.db')
    done()
except SystemExit:
    raise
except Exception as e:
    done('error: %s' % e)
`

export interface ArchiveView {
  /** False when the archive could not be read (or, when validating, broke a rule): `reason` says why. */
  ok: boolean
  reason?: string
  members: Array<{mode: number; name: string; size: number; type: string}>
  metadata: null | Record<string, unknown>
  databaseSha256: null | string
  databaseSize: null | number
  /** Rows in `files` of the archived database, and the sum of their size_bytes (when validated). */
  rows?: number
  totalSize?: number
  /** The first column of the first row of each query of `sql`, run on the archived database. */
  sql?: Record<string, unknown>
}

export type ArchiveCheck = ArchiveView

export interface ReadArchiveOptions {
  /** Members to copy out: member name → destination file. */
  extract?: Record<string, string>
  /** Queries to run on a copy of the archived library.db: key → SQL. */
  sql?: Record<string, string>
  /**
   * Check the archive as VPO's tool would accept it: exactly the two members, regular files, the
   * metadata fields, size, checksum, integrity_check; the first broken rule is the `reason`.
   */
  validate?: boolean
}

function inspect(archive: string, options: ReadArchiveOptions): ArchiveView {
  const spec = {archive, validate: options.validate ?? false, extract: options.extract ?? {}, sql: options.sql ?? {}}
  const result = python(READER, [JSON.stringify(spec)])
  if (result.status !== 0)
    return {
      ok: false,
      reason: `python failed: ${result.stderr}`,
      members: [],
      metadata: null,
      databaseSha256: null,
      databaseSize: null,
    }
  const view = JSON.parse(result.stdout) as ArchiveView & {reason: null | string}
  return {...view, reason: view.reason ?? undefined}
}

/**
 * Opens an archive with Python's tarfile, as VPO's own tool reads it (members, metadata, database
 * checksum and size); throws when it cannot or when there is no backup_metadata.json.
 */
export function readArchiveWithPython(
  archive: string,
  options: Omit<ReadArchiveOptions, 'validate'> = {},
): ArchiveView & {metadata: Record<string, unknown>} {
  const view = inspect(archive, options)
  if (!view.ok) throw new Error(`python tarfile could not read ${archive}: ${view.reason}`)
  if (!view.metadata) throw new Error(`${archive} has no backup_metadata.json`)
  return {...view, metadata: view.metadata}
}

/** The parsed backup_metadata.json of an archive, read with Python's tarfile. */
export function archiveMetadata(archive: string): Record<string, unknown> {
  return readArchiveWithPython(archive).metadata
}

/** Extracts one member of a .tar.gz with Python's tarfile (not with the code under test). */
export function extractArchiveMember(archive: string, member: string, destination: string): void {
  readArchiveWithPython(archive, {extract: {[member]: destination}})
}

/**
 * Validates an archive independently of the plugin, with Python's tarfile and sqlite3 (what VPO's
 * own tool uses): exactly the two members, regular files, metadata fields, size, checksum,
 * integrity_check, and the statistics of the archived database. Never throws: `ok` and `reason`.
 */
export function validateArchiveWithPython(archive: string, sql: Record<string, string> = {}): ArchiveCheck {
  return inspect(archive, {validate: true, sql})
}
