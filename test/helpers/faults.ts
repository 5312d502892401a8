/** Fault trials: reproducible randomness (a failing trial reproduces from its printed seed). */
import crypto from 'node:crypto'

/** mulberry32 (the fixture generator's): a failing fault trial reproduces from its printed seed. */
export {seededRandom} from '../fixtures/library-generator.js'

/** The seed for a fault suite: $FAULT_SEED when set (to reproduce a failure), else a fresh one. */
export function faultSeed(label: string): number {
  const fromEnv = Number.parseInt(process.env.FAULT_SEED ?? '', 10)
  const seed = Number.isInteger(fromEnv) ? fromEnv : crypto.randomBytes(4).readUInt32LE(0)
  console.log(`      [${label}] seed ${seed} (reproduce with FAULT_SEED=${seed})`)
  return seed
}
