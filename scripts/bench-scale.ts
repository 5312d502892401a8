/**
 * Bench parts for issue 19: read/write system calls of one backup and one restore (strace, a
 * count that does not depend on how busy the machine is), and a 1 GB library against the 100 MB
 * one (time per MB and peak RSS).
 */
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

export interface ScaleRow {
  operation: string
  ours: string
  baseline: string
  ratio: string
  target: string
  result: string
  rss: string
}

export interface ScaleContext {
  node: string
  runJs: string
  scratch: string
  /** A fresh data dir holding a copy of the 100 MB fixture. */
  freshDataDir: (name: string) => string
  measure: (
    command: string,
    args: string[],
    env?: NodeJS.ProcessEnv,
  ) => {rssKb: null | number; seconds: number; stdout: string}
  log: (message: string) => void
}

export const SYSCALL_TARGET = {backup: 30_000, restore: 10_000}
export const LARGE_TARGET = {rssMb: 150, perMbRatio: 1.1}
const TRACED = 'read,write,pread64,pwrite64'

function straceWorks(): boolean {
  return spawnSync('strace', ['-f', '-c', '-o', '/dev/null', 'true']).status === 0
}

/** Total of the traced calls from `strace -c` output ("… total" is the last line). */
function tracedCalls(summaryFile: string): number {
  const total = fs
    .readFileSync(summaryFile, 'utf8')
    .split('\n')
    .find((line) => /\btotal\s*$/.test(line))
  const fields = total?.trim().split(/\s+/) ?? []
  // "% time  seconds  usecs/call  calls  [errors]  total": calls is the 4th field.
  const calls = Number(fields[3])
  if (!Number.isInteger(calls)) throw new Error(`cannot read the strace summary in ${summaryFile}`)
  return calls
}

function traced(ctx: ScaleContext, args: string[], dataDir: string): number {
  const summary = path.join(ctx.scratch, 'strace.txt')
  const result = spawnSync(
    'strace',
    ['-f', '-c', '-e', `trace=${TRACED}`, '-o', summary, ctx.node, ctx.runJs, ...args],
    {encoding: 'utf8', env: {...process.env, VPO_DATA_DIR: dataDir}, maxBuffer: 64 * 1024 * 1024},
  )
  if (result.status !== 0) throw new Error(`strace run failed: ${args.join(' ')}\n${result.stdout}${result.stderr}`)
  return tracedCalls(summary)
}

function callsRow(operation: string, calls: number, target: number): ScaleRow {
  return {
    operation,
    ours: calls.toLocaleString('en-US'),
    baseline: '',
    ratio: '',
    target: `≤ ${target.toLocaleString('en-US')}`,
    result: calls <= target ? 'PASS' : 'MISS',
    rss: '',
  }
}

/** One traced backup and one traced restore (no safety backup) of the 100 MB fixture. */
export function benchSyscalls(ctx: ScaleContext): ScaleRow[] {
  if (!straceWorks()) {
    ctx.log('strace is not available: system calls not counted')
    return []
  }

  const archive = path.join(ctx.scratch, 'syscalls.tar.gz')
  fs.rmSync(archive, {force: true})
  const backup = traced(ctx, ['library:backup', '--output', archive, '--json'], ctx.freshDataDir('syscalls'))
  const restore = traced(
    ctx,
    ['library:restore', archive, '--yes', '--no-safety-backup', '--json'],
    ctx.freshDataDir('syscalls'),
  )
  ctx.log(`  system calls (${TRACED}): backup ${backup}, restore ${restore}`)
  fs.rmSync(archive, {force: true})
  return [
    callsRow('  backup read/write system calls', backup, SYSCALL_TARGET.backup),
    callsRow('  restore read/write system calls', restore, SYSCALL_TARGET.restore),
  ]
}

/**
 * Backup and restore of the 1 GB library beside the same on the 100 MB one, `runs` times each:
 * the seconds per MB should not grow with the library, and neither should the peak RSS.
 */
export function benchLarge(ctx: ScaleContext, freshLargeDataDir: () => string, runs: number): ScaleRow[] {
  const bytes = {small: 0, large: 0}
  const rows: ScaleRow[] = []
  const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
  for (const operation of ['backup', 'restore'] as const) {
    const figures = {small: [] as number[], large: [] as number[], rss: [] as number[]}
    for (let i = 0; i < runs; i++) {
      for (const side of ['small', 'large'] as const) {
        const dataDir = side === 'small' ? ctx.freshDataDir('scale-small') : freshLargeDataDir()
        bytes[side] = fs.statSync(path.join(dataDir, 'library.db')).size
        const archive = path.join(ctx.scratch, `scale-${side}.tar.gz`)
        const args =
          operation === 'backup'
            ? ['library:backup', '--output', archive, '--force', '--json']
            : ['library:restore', archive, '--yes', '--no-safety-backup', '--json']
        const m = ctx.measure(ctx.node, [ctx.runJs, ...args], {...process.env, VPO_DATA_DIR: dataDir})
        figures[side].push(m.seconds)
        if (side === 'large' && m.rssKb !== null) figures.rss.push(m.rssKb)
        ctx.log(
          `  ${operation} ${side === 'small' ? '100 MB' : '1 GB'} run ${i + 1}/${runs}: ${m.seconds.toFixed(2)} s`,
        )
      }
    }

    const perMb = (seconds: number, bytes: number) => seconds / (bytes / 1e6)
    const smallRate = perMb(median(figures.small), bytes.small)
    const largeRate = perMb(median(figures.large), bytes.large)
    const ratio = largeRate / smallRate
    const peakMb = figures.rss.length === runs ? Math.max(...figures.rss) / 1024 : undefined
    rows.push(
      {
        operation: `library:${operation} 1 GB vs 100 MB`,
        ours: `${median(figures.large).toFixed(2)} s (${(largeRate * 1000).toFixed(1)} ms/MB)`,
        baseline: `${median(figures.small).toFixed(2)} s (${(smallRate * 1000).toFixed(1)} ms/MB)`,
        ratio: ratio.toFixed(2),
        target: `per MB ≤ ${LARGE_TARGET.perMbRatio.toFixed(2)}`,
        result: ratio <= LARGE_TARGET.perMbRatio ? 'PASS' : 'MISS',
        rss: '',
      },
      {
        operation: `  ${operation} 1 GB peak RSS`,
        ours: peakMb === undefined ? 'n/a' : `${Math.round(peakMb)} MB`,
        baseline: '',
        ratio: '',
        target: `≤ ${LARGE_TARGET.rssMb} MB`,
        result: peakMb === undefined ? 'n/a' : peakMb <= LARGE_TARGET.rssMb ? 'PASS' : 'MISS',
        rss: '',
      },
    )
  }

  return rows
}
