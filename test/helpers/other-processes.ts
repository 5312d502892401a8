/**
 * The CLI run the ways an admin runs it: under a given umask, or as another (unprivileged) user
 * through setpriv, as `sudo -u vpo vpo …` would. And a SQLite client that opens the library
 * without the plugin's lock, as a second tool or a careless script does.
 */
import {spawn, spawnSync} from 'node:child_process'

import {cleanEnv, type CliResult, ROOT, RUN} from './cli.js'
import {type ChildHandle} from './processes.js'

/** Runs `argv` to completion with the clean CLI environment plus `env`. */
export async function runProgram(argv: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000): Promise<CliResult> {
  const child = spawn(argv[0], argv.slice(1), {
    cwd: ROOT,
    env: {...cleanEnv(), ...env},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk) => (stdout += chunk))
  child.stderr.on('data', (chunk) => (stderr += chunk))
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const [code, signal] = await new Promise<[null | number, NodeJS.Signals | null]>((resolve) => {
    child.on('close', (c, s) => resolve([c, s]))
  })
  clearTimeout(timer)
  return {code, signal, stdout, stderr}
}

/** `bin/run.js ARGS` under `umask` (an octal string such as '000' or '077'), set by the shell that execs node. */
export async function runCliWithUmask(umask: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return runProgram(['sh', '-c', `umask ${umask} && exec "$0" "$@"`, process.execPath, RUN, ...args], env)
}

/** Whether setpriv can run node here as another uid (it needs root and util-linux's setpriv). */
export function canSwitchUser(): boolean {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return false
  return spawnSync('setpriv', ['--version'], {encoding: 'utf8'}).status === 0
}

/** Whether `uid` can read and execute what the CLI needs: the checkout and node itself. */
export function userCanRunCli(uid: number, gid: number): boolean {
  const probe = spawnSync(
    'setpriv',
    [
      `--reuid=${uid}`,
      `--regid=${gid}`,
      '--clear-groups',
      process.execPath,
      '-e',
      `require('fs').accessSync(${JSON.stringify(RUN)}, require('fs').constants.R_OK)`,
    ],
    {
      cwd: '/',
      encoding: 'utf8',
    },
  )
  return probe.status === 0
}

/** `bin/run.js ARGS` as uid:gid with no supplementary groups (setpriv), HOME set to `home`. */
export async function runCliAs(
  uid: number,
  gid: number,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<CliResult> {
  return runProgram(
    ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', process.execPath, RUN, ...args],
    env,
  )
}

const UNLOCKED_CLIENT = String.raw`
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=0.2)
mode = db.execute('PRAGMA journal_mode').fetchone()[0]
db.execute('SELECT COUNT(*) FROM files').fetchone()
sys.stdout.write('open %s\n' % mode); sys.stdout.flush()
sys.stdin.read()  # idle, connection open, until the test closes stdin
db.close()
`

/**
 * A Python sqlite3 connection to the library that never takes the plugin's lock: it reads once,
 * then sits idle with the connection open (no transaction) until stopped. Resolves with the
 * journal mode it saw.
 */
export async function openWithoutLock(databasePath: string): Promise<ChildHandle & {journalMode: string}> {
  const child = spawn('python3', ['-c', UNLOCKED_CLIENT, databasePath], {stdio: ['pipe', 'pipe', 'pipe']})
  const exited = new Promise<void>((resolve) => {
    child.on('exit', () => resolve())
  })
  const journalMode = await new Promise<string>((resolve, reject) => {
    let out = ''
    let err = ''
    child.stderr.on('data', (chunk) => (err += chunk))
    child.stdout.on('data', (chunk) => {
      out += chunk
      const match = /open (\w+)\n/.exec(out)
      if (match) resolve(match[1])
    })
    child.on('exit', (code) =>
      reject(new Error(`the SQLite client exited (${code}) before opening the library: ${err}`)),
    )
  })
  return {
    pid: child.pid!,
    journalMode,
    async stop() {
      child.stdin.end()
      await exited
    },
  }
}
