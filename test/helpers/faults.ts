/** Fault trials: reproducible randomness, and how long a run takes so a fault can be aimed inside one. */
import {expect} from 'chai'
import crypto from 'node:crypto'

import {runCli} from './cli.js'
import {cloneLibrary, type DataDir} from './libraries.js'

/** mulberry32 (the fixture generator's): a failing fault trial reproduces from its printed seed. */
export {seededRandom} from '../fixtures/library-generator.js'

/** The seed for a fault suite: $FAULT_SEED when set (to reproduce a failure), else a fresh one. */
export function faultSeed(label: string): number {
  const fromEnv = Number.parseInt(process.env.FAULT_SEED ?? '', 10)
  const seed = Number.isInteger(fromEnv) ? fromEnv : crypto.randomBytes(4).readUInt32LE(0)
  console.log(`      [${label}] seed ${seed} (reproduce with FAULT_SEED=${seed})`)
  return seed
}

/** How long `run` takes on this machine now: the load changes it, so trials measure rather than guess. */
export async function measure(run: () => Promise<unknown>): Promise<number> {
  const started = Date.now()
  await run()
  return Date.now() - started
}

/** How long one successful run of the CLI takes on a copy of `library`, to aim a kill or a signal inside one. */
export async function msForOneRun(args: string[], library: DataDir): Promise<number> {
  const probe = cloneLibrary(library)
  return measure(async () => {
    const result = await runCli(args, {env: probe.env})
    expect(result.code, result.stderr).to.equal(0)
  })
}
