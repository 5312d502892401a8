/** Fault trials: reproducible randomness, and waiting for the moment to strike. */
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

export async function pause(ms: number): Promise<void> {
  await new Promise((resolve) => {
    setTimeout(resolve, ms)
  })
}

/** Polls until `predicate` holds; false on timeout. */
export async function pollUntil(predicate: () => boolean, timeoutMs = 10_000, intervalMs = 2): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (predicate()) return true
    await pause(intervalMs)
  }

  return predicate()
}
