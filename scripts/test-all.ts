/**
 * `npm test`: every suite, in lanes that run at the same time. Suites in different lanes share no
 * state (each test works in its own temporary directories, tmpfs mounts are made only by the
 * faults lane under such directories, verdaccio listens on a free port), so they may overlap; the
 * suites of one lane run one after the other in one mocha process.
 *
 * Each lane's output is streamed with its name as a prefix. At the end: one line per lane, then
 * one summary line `N passed, N failed` (`, N skipped` when some are pending). The exit status is
 * non-zero when any test failed or any lane did not finish cleanly.
 *
 *   tsx scripts/test-all.ts                  every partition
 *   tsx scripts/test-all.ts unit faults      only these partitions (unit, storage, commands, faults, install)
 */
import {spawn} from 'node:child_process'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const MOCHA = path.join(ROOT, 'node_modules', 'mocha', 'bin', 'mocha.js')

/** The partitions (each also has its own `npm run test:NAME`). */
const PARTITIONS: Record<string, string> = {
  unit: 'test/lib/**/*.test.ts',
  storage: 'test/storage/**/*.test.ts',
  commands: 'test/commands/**/*.test.ts',
  faults: 'test/faults/**/*.test.ts',
  install: 'test/install/**/*.test.ts',
}

/**
 * Partitions that run one after the other share a lane; the lanes run at the same time. The
 * install lane (three Node hosts) is the longest, so storage (the S3 tests with real stalls and
 * retries, split out of unit) stays in the lane it ran in before: the total cannot grow.
 */
const LANES: string[][] = [['unit', 'storage', 'commands'], ['faults'], ['install']]

interface LaneResult {
  name: string
  passed: number
  failed: number
  skipped: number
  /** Whether mocha printed its summary (a crash before it counts as a failure). */
  summarized: boolean
  exitCode: null | number
  signal: NodeJS.Signals | null
  seconds: number
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001B\[[\d;]*m/g

function runLane(lane: {name: string; specs: string[]}, width: number): {done: Promise<LaneResult>; kill(): void} {
  const started = performance.now()
  const child = spawn(process.execPath, [MOCHA, ...lane.specs], {
    cwd: ROOT,
    env: process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const prefix = `[${lane.name}]`.padEnd(width + 2) + ' '
  const result: LaneResult = {
    name: lane.name,
    passed: 0,
    failed: 0,
    skipped: 0,
    summarized: false,
    exitCode: null,
    signal: null,
    seconds: 0,
  }

  const onLine = (line: string, out: NodeJS.WriteStream) => {
    out.write(`${prefix}${line}\n`)
    const plain = line.replaceAll(ANSI, '')
    const summary = /^\s*(\d+) (passing|failing|pending)( \(.*\))?\s*$/.exec(plain)
    if (!summary) return
    const count = Number(summary[1])
    if (summary[2] === 'passing') {
      result.passed = count
      result.summarized = true
    } else if (summary[2] === 'failing') result.failed = count
    else result.skipped = count
  }

  for (const [stream, out] of [
    [child.stdout, process.stdout],
    [child.stderr, process.stderr],
  ] as const) {
    let pending = ''
    stream.setEncoding('utf8')
    stream.on('data', (chunk: string) => {
      pending += chunk
      const lines = pending.split('\n')
      pending = lines.pop()!
      for (const line of lines) onLine(line, out)
    })
    stream.on('end', () => pending && onLine(pending, out))
  }

  const done = new Promise<LaneResult>((resolve) => {
    child.on('close', (code, signal) => {
      result.exitCode = code
      result.signal = signal
      result.seconds = (performance.now() - started) / 1000
      resolve(result)
    })
  })
  return {done, kill: () => child.kill('SIGTERM')}
}

function minutes(seconds: number): string {
  return seconds < 60 ? `${seconds.toFixed(0)} s` : `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`
}

async function main(): Promise<number> {
  const wanted = process.argv.slice(2)
  const unknown = wanted.filter((name) => !(name in PARTITIONS))
  if (unknown.length > 0) {
    console.error(`Unknown partition ${unknown.join(', ')}; the partitions are ${Object.keys(PARTITIONS).join(', ')}.`)
    return 2
  }

  const lanes = LANES.map((names) => names.filter((name) => wanted.length === 0 || wanted.includes(name)))
    .filter((names) => names.length > 0)
    .map((names) => ({name: names.join('+'), specs: names.map((name) => PARTITIONS[name])}))
  const width = Math.max(...lanes.map((lane) => lane.name.length))
  const started = performance.now()
  const running = lanes.map((lane) => runLane(lane, width))
  const stop = () => {
    for (const lane of running) lane.kill()
  }

  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  const results = await Promise.all(running.map((lane) => lane.done))

  console.log('')
  let passed = 0
  let failed = 0
  let skipped = 0
  for (const lane of results) {
    // A lane that ended badly without reporting a failing test (a crash, a signal) still fails the run.
    const broken = lane.exitCode !== 0 && lane.failed === 0 ? 1 : 0
    const how = lane.signal ? `killed by ${lane.signal}` : `exit ${lane.exitCode}`
    const note = lane.summarized ? '' : ' (no mocha summary)'
    console.log(
      `${lane.name}: ${lane.passed} passed, ${lane.failed + broken} failed, ${lane.skipped} skipped, ${how}${note}, ${minutes(lane.seconds)}`,
    )
    passed += lane.passed
    failed += lane.failed + broken
    skipped += lane.skipped
  }

  console.log(`all lanes: ${minutes((performance.now() - started) / 1000)}`)
  console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`)
  return failed > 0 ? 1 : 0
}

process.exitCode = await main()
