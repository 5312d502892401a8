/**
 * Backups "made" at any time without waiting for it: a real archive rewritten by Python's tarfile
 * with another `created_at` in its metadata (everything else, the database and its sha256
 * included, is kept), and ways to damage a copy the way disks and networks do.
 */
import fs from 'node:fs'

import {python} from './python.js'

const REWRITER = `
import copy, io, json, sys, tarfile
spec = json.load(sys.stdin)
with tarfile.open(spec['source'], 'r:gz') as tf:
    members = [(m, tf.extractfile(m).read()) for m in tf.getmembers()]
for job in spec['copies']:
    out = []
    for m, data in members:
        m = copy.copy(m)
        if m.name == 'backup_metadata.json':
            meta = json.loads(data)
            meta['created_at'] = job['createdAt']
            data = json.dumps(meta, indent=2).encode()
            m.size = len(data)
        out.append((m, data))
    out.sort(key=lambda pair: (pair[0].name == 'backup_metadata.json') == (spec['order'] == 'metadata-last'))
    with tarfile.open(job['dest'], 'w:gz', compresslevel=1) as tf:
        for m, data in out:
            tf.addfile(m, io.BytesIO(data))
`

/** Many copies of one archive, each with its own `created_at`, in one Python process. */
export function copiesWithCreatedAt(
  source: string,
  copies: Array<{createdAt: string; dest: string}>,
  order: 'metadata-first' | 'metadata-last' = 'metadata-first',
): void {
  const result = python(REWRITER, [], JSON.stringify({source, copies, order}))
  if (result.status !== 0) throw new Error(`rewriting ${source} failed: ${result.stderr}`)
}

/**
 * Copies the archive at `source` to `dest` with metadata `created_at` set to `createdAt`
 * (`2026-02-05T14:30:22Z`), written by Python's tarfile with the metadata first (as this plugin
 * orders it) or last (as VPO's Python tool does).
 */
export function copyWithCreatedAt(
  source: string,
  dest: string,
  createdAt: string,
  order: 'metadata-first' | 'metadata-last' = 'metadata-first',
): void {
  copiesWithCreatedAt(source, [{createdAt, dest}], order)
}

/** XORs the byte at `offset` (negative: from the end) with 0xff. */
export function flipByte(file: string, offset: number): void {
  const bytes = fs.readFileSync(file)
  const at = offset < 0 ? bytes.length + offset : offset
  bytes[at] ^= 0xff
  fs.writeFileSync(file, bytes)
}

/** Offsets of every gzip member header (1f 8b 08) that starts a member in a multi-member file. */
export function gzipMemberOffsets(file: string): number[] {
  const bytes = fs.readFileSync(file)
  const offsets: number[] = []
  for (
    let at = bytes.indexOf(Buffer.from([0x1f, 0x8b, 0x08]));
    at !== -1;
    at = bytes.indexOf(Buffer.from([0x1f, 0x8b, 0x08]), at + 1)
  )
    offsets.push(at)
  return offsets
}

/** The name this plugin gives a regular backup created at `createdAt` (`2026-02-05T14:30:22Z`). */
export function regularName(createdAt: string, suffix = ''): string {
  return `vpo-library-${createdAt.replaceAll(':', '')}${suffix}.tar.gz`
}

/** `created_at` (second precision, UTC) of `now` minus `ms`. */
export function createdAtAgo(ms: number, now = Date.now()): string {
  return `${new Date(now - ms).toISOString().slice(0, 19)}Z`
}

/** The size, mtime and bytes' digest of each file, to prove a command left them alone. */
export function fileFacts(files: string[]): Record<string, string> {
  const facts: Record<string, string> = {}
  for (const file of files) {
    const stats = fs.statSync(file, {throwIfNoEntry: false})
    facts[file] = stats ? `${stats.size} ${stats.mtimeMs} ${stats.ino}` : 'absent'
  }

  return facts
}
