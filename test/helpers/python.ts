/** Runs Python snippets (python3 is on every machine here; VPO's own tool is Python). */
import {spawnSync} from 'node:child_process'

export interface PythonResult {
  status: number | null
  stderr: string
  stdout: string
}

/** Runs `code` with `args` in argv; `input`, when given, is written to its stdin. */
export function python(code: string, args: string[] = [], input?: string): PythonResult {
  const out = spawnSync('python3', ['-c', code, ...args], {encoding: 'utf8', input, maxBuffer: 64 * 1024 * 1024})
  return {status: out.status, stdout: out.stdout, stderr: `${out.stderr ?? ''}${out.error ?? ''}`}
}
