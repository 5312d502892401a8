import type * as LosslessJson from 'lossless-json'

import {createRequire} from 'node:module'

/**
 * JSON integers of any size, read and written exactly. VPO's Python tool writes
 * `total_library_size_bytes` as an exact integer however large; JavaScript's JSON would round
 * anything past 2^53, and a backup whose metadata then disagrees with itself cannot be restored.
 */
export type ExactInteger = bigint | number

/** A number while it is exact, a bigint beyond. */
export function exactInteger(value: bigint): ExactInteger {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value
}

let loaded: typeof LosslessJson | undefined
/**
 * Every command imports this module (JSON output goes through it), but only archives' metadata and
 * `--json` output need the parser: `--help` and an empty listing must not load it.
 */
function losslessJson(): typeof LosslessJson {
  loaded ??= createRequire(import.meta.url)('lossless-json') as typeof LosslessJson
  return loaded
}

export function parseExactJson(text: string): unknown {
  const {isInteger, parse} = losslessJson()
  return parse(text, null, (digits) => (isInteger(digits) ? exactInteger(BigInt(digits)) : Number.parseFloat(digits)))
}

export function stringifyExactJson(value: unknown, indent?: number): string {
  return losslessJson().stringify(value, undefined, indent) ?? 'null'
}

export function isExactInteger(value: unknown): value is ExactInteger {
  return typeof value === 'bigint' || (typeof value === 'number' && Number.isSafeInteger(value))
}
