/** Reading a --metrics-file as Prometheus does: `promtool check metrics`, and the samples' values. */
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'

export const HAS_PROMTOOL = spawnSync('promtool', ['--version']).status === 0
export const NO_PROMTOOL = 'skipped: promtool not installed (apt-get install --no-install-recommends prometheus)'

/** promtool's verdict on a metrics file: exit status and what it printed. */
export function promtoolCheckMetrics(file: string): {output: string; status: null | number} {
  const result = spawnSync('promtool', ['check', 'metrics'], {input: fs.readFileSync(file), encoding: 'utf8'})
  return {status: result.status, output: `${result.stdout}${result.stderr}`}
}

/** Every sample of the file by `name{labels}`, e.g. `vpo_backup_last_exit_code{command="backup"}`. */
export function readSamples(file: string): Record<string, number> {
  const samples: Record<string, number> = {}
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = /^(\S+\{[^}]*\})\s+(\S+)$/.exec(line)
    if (!match) throw new Error(`not a sample line: ${line}`)
    samples[match[1]] = Number(match[2])
  }

  return samples
}

export function sample(samples: Record<string, number>, name: string, command: string): number | undefined {
  return samples[`${name}{command="${command}"}`]
}
