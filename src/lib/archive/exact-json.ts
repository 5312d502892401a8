import {isInteger, parse, stringify} from 'lossless-json'

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

export function parseExactJson(text: string): unknown {
  return parse(text, null, (digits) => (isInteger(digits) ? exactInteger(BigInt(digits)) : Number.parseFloat(digits)))
}

export function stringifyExactJson(value: unknown, indent?: number): string {
  return stringify(value, undefined, indent) ?? 'null'
}

export function isExactInteger(value: unknown): value is ExactInteger {
  return typeof value === 'bigint' || (typeof value === 'number' && Number.isSafeInteger(value))
}
