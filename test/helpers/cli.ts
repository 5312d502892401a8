/**
 * The CLI as a user runs it: real child processes running bin/run.js, on pipes or on a real
 * pseudo-terminal. Nothing here mocks the filesystem, SQLite or tar.
 */
import {spawn, spawnSync} from 'node:child_process'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
export const RUN = path.join(ROOT, 'bin', 'run.js')

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv
  /** Written to stdin, which is then closed (stdin is never a terminal here). */
  input?: string
  cwd?: string
  timeoutMs?: number
}

/** Runs `bin/run.js ARGS` to completion. */
export async function runCli(args: string[], options: RunOptions = {}): Promise<CliResult> {
  const child = startCli(args, options)
  if (options.input === undefined) child.stdin?.end()
  else child.stdin?.end(options.input)
  return collect(child, options.timeoutMs ?? 60_000)
}

/** Starts `bin/run.js ARGS` without waiting (to signal or kill it mid-run). */
export function startCli(args: string[], options: RunOptions = {}) {
  return spawn(process.execPath, [RUN, ...args], {
    cwd: options.cwd ?? ROOT,
    env: {...cleanEnv(), ...options.env},
    stdio: ['pipe', 'pipe', 'pipe'],
  })
}

/** Collects the output of a child started with startCli and waits for it to end. */
export async function finishCli(child: ReturnType<typeof startCli>, timeoutMs = 60_000): Promise<CliResult> {
  child.stdin?.end()
  return collect(child, timeoutMs)
}

async function collect(child: ReturnType<typeof startCli>, timeoutMs: number): Promise<CliResult> {
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (chunk) => (stdout += chunk))
  child.stderr?.on('data', (chunk) => (stderr += chunk))
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null)
      resolve([child.exitCode, child.signalCode as NodeJS.Signals | null])
    else child.on('close', (c, s) => resolve([c, s]))
  })
  clearTimeout(timer)
  return {code, signal, stdout, stderr}
}

/** The parent's environment without anything that would change the plugin's behaviour. */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env = {...process.env}
  delete env.VPO_DATA_DIR
  delete env.DEBUG
  env.NO_COLOR = '1'
  return env
}

/** Parses the single JSON document a `--json` run prints on stdout. */
export function parseJson(result: CliResult): Record<string, unknown> {
  try {
    return JSON.parse(result.stdout) as Record<string, unknown>
  } catch {
    throw new Error(`stdout is not one JSON document:\n${result.stdout}\nstderr:\n${result.stderr}`)
  }
}

/** Lines of a stack trace (`    at foo (file.js:1:2)`) in a command's output. */
export function stackTraceLines(text: string): string[] {
  return text.split(/\r?\n/).filter((line) => /^\s+at\s/.test(line))
}

export interface PtyResult {
  code: number | null
  signal: number | null
  /** Everything the terminal showed (stdout and stderr together, with \r\n line ends). */
  output: string
  /** Whether the prompt text appeared (and, if an answer was given, was answered). */
  prompted: boolean
  timedOut: boolean
}

/**
 * Runs `bin/run.js ARGS` on a real pseudo-terminal (test/helpers/pty-run.py): stdin, stdout and
 * stderr are a TTY, as for a person at a terminal. When `prompt` appears, `answer` and Enter are typed.
 */
export function runCliOnPty(
  args: string[],
  options: {answer?: string; env?: NodeJS.ProcessEnv; prompt?: string; timeoutMs?: number} = {},
): PtyResult {
  const spec = {
    argv: [process.execPath, RUN, ...args],
    env: {...cleanEnv(), ...options.env},
    cwd: ROOT,
    prompt: options.prompt ?? '[y/N]',
    answer: options.answer,
    timeout: (options.timeoutMs ?? 30_000) / 1000,
  }
  const out = spawnSync('python3', [path.join(ROOT, 'test', 'helpers', 'pty-run.py'), JSON.stringify(spec)], {
    encoding: 'utf8',
    timeout: (options.timeoutMs ?? 30_000) + 10_000,
  })
  if (out.status !== 0) throw new Error(`pty-run.py failed: ${out.stderr}`)
  const result = JSON.parse(out.stdout) as {
    code: null | number
    output: string
    prompted: boolean
    signal: null | number
    timed_out: boolean
  }
  return {
    code: result.code,
    signal: result.signal,
    output: result.output,
    prompted: result.prompted,
    timedOut: result.timed_out,
  }
}
