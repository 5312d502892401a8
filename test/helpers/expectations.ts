/** What every command's output must look like, success or failure: one copy for every suite. */
import {expect} from 'chai'

import {type CliResult, parseJson, runCli, type RunOptions, stackTraceLines} from './cli.js'

/** No stack trace anywhere in what the user sees. */
export function expectNoStackTrace(result: CliResult): void {
  expect(stackTraceLines(result.stdout + result.stderr), `stack trace in the output:\n${result.stderr}`).to.deep.equal(
    [],
  )
}

/** runCli, and whatever the outcome, no stack trace. */
export async function runCliChecked(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  options: RunOptions = {},
): Promise<CliResult> {
  const result = await runCli(args, {...options, env})
  expectNoStackTrace(result)
  return result
}

/** A failure without --json: exit `exitCode`, one `Error: ` sentence on stderr, nothing on stdout. */
export function expectHumanError(result: CliResult, exitCode: number): string {
  const why = `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`
  expect(result.code, why).to.equal(exitCode)
  expect(result.stdout, why).to.equal('')
  expectNoStackTrace(result)
  const lines = result.stderr.split('\n').filter((line) => line.trim() !== '')
  expect(lines, `the error is one line on stderr:\n${result.stderr}`).to.have.lengthOf(1)
  expect(lines[0]).to.match(/^Error: /)
  return lines[0]
}

/**
 * A failure with --json: stdout is exactly `{success: false, error: {code, message, hint?, exit_code}}`,
 * and the process exits with that exit_code. Any non-empty code is accepted when `code` is undefined.
 * Returns what a user reads: the message, then the hint.
 */
export function expectJsonError(result: CliResult, code: string | undefined, exitCode: number): string {
  const body = parseJson(result)
  expect(Object.keys(body).sort()).to.deep.equal(['error', 'success'])
  expect(body.success).to.equal(false)
  const error = body.error as Record<string, unknown>
  expect(
    Object.keys(error)
      .filter((key) => key !== 'hint')
      .sort(),
  ).to.deep.equal(['code', 'exit_code', 'message'])
  if ('hint' in error) expect(error.hint).to.be.a('string').and.not.equal('')
  if (code === undefined) expect(error.code).to.be.a('string').and.not.equal('')
  else expect(error.code).to.equal(code)
  expect(error.exit_code).to.equal(exitCode)
  expect(error.message).to.be.a('string').and.not.equal('')
  expect(result.code, 'process exit code equals error.exit_code').to.equal(exitCode)
  expectNoStackTrace(result)
  return [error.message, error.hint].filter(Boolean).join(' ')
}

/** "572.3 KB" → bytes; decimal or binary multiples, the spec only asks for readable. */
export function parseHumanSize(text: string): number {
  const match = /^([\d.]+) (B|KB|MB|GB|KiB|MiB|GiB)$/.exec(text.trim())
  if (!match) throw new Error(`not a human-readable size: ${JSON.stringify(text)}`)
  const scale: Record<string, number> = {B: 1, KB: 1e3, MB: 1e6, GB: 1e9, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3}
  return Number(match[1]) * scale[match[2]]
}

/** A human-readable size within rounding (6%) of the exact byte count. */
export function expectAboutSize(text: string, bytes: number): void {
  const shown = parseHumanSize(text)
  expect(Math.abs(shown - bytes), `${text} for ${bytes} bytes`).to.be.at.most(Math.max(bytes * 0.06, 1))
}
