/**
 * The durability calls a command really makes, observed from inside the real CLI: a module
 * preloaded with NODE_OPTIONS=--import wraps node:fs (opens, fsyncs, renames, links, FileHandle.sync)
 * and appends one JSON line per call to a log. Nothing is faked: every call goes through to the
 * real function; the hook only records it (with the path an fd was opened on, and the mode a newly
 * created file got), so a test can assert the order "fsync the file, then rename, then fsync the
 * directory" that a power cut needs.
 */
import fs from 'node:fs'
import path from 'node:path'

import {preloadHook} from './filesystems.js'
import {makeTempDir} from './temp-dirs.js'

export interface ObservedCall {
  /** temp: a temporary file seen in a watched directory (VPO_OBSERVE_DIRS) at an fsync. */
  op: 'fsync' | 'link' | 'open' | 'rename' | 'temp'
  /** The file (or directory) synced or opened; for rename/link, the source. */
  path: string
  /** rename/link: the destination. */
  to?: string
  /** open of a file it creates (flags w, a or x): its permission bits right after creation; temp: its bits then. */
  mode?: number
}

const HOOK = String.raw`
import fs from 'node:fs'
const original = {
  openSync: fs.openSync, open: fs.open, closeSync: fs.closeSync, close: fs.close, fstatSync: fs.fstatSync,
  fsyncSync: fs.fsyncSync, fsync: fs.fsync, fdatasyncSync: fs.fdatasyncSync, fdatasync: fs.fdatasync,
  renameSync: fs.renameSync, rename: fs.rename, linkSync: fs.linkSync, link: fs.link,
  pOpen: fs.promises.open, pRename: fs.promises.rename, pLink: fs.promises.link,
}
const logFd = original.openSync(process.env.VPO_OBSERVE_LOG, 'a')
const fds = new Map()
const record = (entry) => fs.writeSync(logFd, JSON.stringify(entry) + '\n')
const creates = (flags) => typeof flags === 'string' && /[wax]/.test(flags)
const opened = (fd, file, flags) => {
  fds.set(fd, String(file))
  const entry = {op: 'open', path: String(file), flags: String(flags ?? 'r')}
  if (creates(flags)) entry.mode = original.fstatSync(fd).mode & 0o7777
  record(entry)
}
// Files SQLite creates natively (a snapshot) pass no hook: at each fsync, the mode of every
// temporary file then present in the watched directories is recorded too.
const watched = (process.env.VPO_OBSERVE_DIRS ?? '').split(':').filter(Boolean)
const recordTemps = () => {
  for (const dir of watched) {
    let names = []
    try { names = fs.readdirSync(dir) } catch { continue }
    for (const name of names) {
      if (!name.startsWith('.vpo-backup-tmp-')) continue
      try { record({op: 'temp', path: dir + '/' + name, mode: fs.lstatSync(dir + '/' + name).mode & 0o7777}) } catch {}
    }
  }
}
const synced = (fd) => { record({op: 'fsync', path: fds.get(fd) ?? 'fd ' + fd}); recordTemps() }

fs.openSync = function (file, flags, ...rest) {
  const fd = original.openSync.call(this, file, flags, ...rest)
  opened(fd, file, flags)
  return fd
}
fs.open = function (file, ...rest) {
  const callback = rest.pop()
  const flags = typeof rest[0] === 'function' ? undefined : rest[0]
  return original.open.call(this, file, ...rest, (error, fd) => {
    if (!error) opened(fd, file, flags)
    callback(error, fd)
  })
}
fs.closeSync = function (fd) { fds.delete(fd); return original.closeSync.call(this, fd) }
fs.close = function (fd, ...rest) { fds.delete(fd); return original.close.call(this, fd, ...rest) }
fs.fsyncSync = function (fd) { synced(fd); return original.fsyncSync.call(this, fd) }
fs.fsync = function (fd, callback) { synced(fd); return original.fsync.call(this, fd, callback) }
fs.fdatasyncSync = function (fd) { synced(fd); return original.fdatasyncSync.call(this, fd) }
fs.fdatasync = function (fd, callback) { synced(fd); return original.fdatasync.call(this, fd, callback) }
fs.renameSync = function (from, to) { record({op: 'rename', path: String(from), to: String(to)}); return original.renameSync.call(this, from, to) }
fs.rename = function (from, to, callback) { record({op: 'rename', path: String(from), to: String(to)}); return original.rename.call(this, from, to, callback) }
fs.linkSync = function (from, to) { record({op: 'link', path: String(from), to: String(to)}); return original.linkSync.call(this, from, to) }
fs.link = function (from, to, callback) { record({op: 'link', path: String(from), to: String(to)}); return original.link.call(this, from, to, callback) }
fs.promises.rename = async function (from, to) { record({op: 'rename', path: String(from), to: String(to)}); return original.pRename.call(this, from, to) }
fs.promises.link = async function (from, to) { record({op: 'link', path: String(from), to: String(to)}); return original.pLink.call(this, from, to) }

const probe = await original.pOpen(process.env.VPO_OBSERVE_LOG, 'r')
const FileHandle = Object.getPrototypeOf(probe)
await probe.close()
const handlePaths = new WeakMap()
fs.promises.open = async function (file, flags, ...rest) {
  const handle = await original.pOpen.call(this, file, flags, ...rest)
  handlePaths.set(handle, String(file))
  const entry = {op: 'open', path: String(file), flags: String(flags ?? 'r')}
  if (creates(flags)) entry.mode = (await handle.stat()).mode & 0o7777
  record(entry)
  return handle
}
for (const method of ['sync', 'datasync']) {
  const real = FileHandle[method]
  FileHandle[method] = function () {
    record({op: 'fsync', path: handlePaths.get(this) ?? 'handle ' + this.fd})
    recordTemps()
    return real.call(this)
  }
}
`

/**
 * The env that makes the CLI log its calls, and a reader for what it logged. In `watchDirs`, the
 * temporary files present at each fsync are logged with their modes.
 */
export function observeCalls(watchDirs: string[] = []): {env: NodeJS.ProcessEnv; calls: () => ObservedCall[]} {
  const log = path.join(makeTempDir('vpo-observed'), 'calls.jsonl')
  fs.writeFileSync(log, '')
  return {
    env: {...preloadHook(HOOK), VPO_OBSERVE_LOG: log, VPO_OBSERVE_DIRS: watchDirs.join(':')},
    calls: () =>
      fs
        .readFileSync(log, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as ObservedCall),
  }
}

/** The index of the first call matching `test` at or after `from`; -1 when there is none. */
export function indexOfCall(calls: ObservedCall[], test: (call: ObservedCall) => boolean, from = 0): number {
  for (let i = from; i < calls.length; i++) if (test(calls[i])) return i
  return -1
}

/** The calls as one line each, for an assertion message. */
export function describeCalls(calls: ObservedCall[]): string {
  return calls
    .filter((call) => call.op !== 'open' || call.mode !== undefined)
    .map(
      (call) =>
        `${call.op} ${call.path}${call.to ? ` -> ${call.to}` : ''}${call.mode === undefined ? '' : ` mode ${call.mode.toString(8)}`}`,
    )
    .join('\n')
}
