/**
 * The C2SP age testkit (npm `cctv-age`, 0BSD/CC0/Unlicense): every vector is a short text header
 * (`expect: …`, `identity: …`, `payload: SHA-256`…), an empty line, then an age file, possibly
 * zlib-compressed. Format: the package's README, "Test file format".
 */
import * as vectors from 'cctv-age'
import zlib from 'node:zlib'

export type Expectation =
  'armor failure' | 'header failure' | 'HMAC failure' | 'no match' | 'payload failure' | 'success'

export interface TestVector {
  name: string
  expect: Expectation
  /** SHA-256 of the plaintext released, hex (success vectors). */
  payload?: string
  identities: string[]
  passphrases: string[]
  armored: boolean
  /** The age file itself, decompressed. */
  file: Buffer
}

const EXPECTATIONS = new Set([
  'armor failure',
  'header failure',
  'HMAC failure',
  'no match',
  'payload failure',
  'success',
])

function parse(name: string, bytes: Uint8Array): TestVector {
  const data = Buffer.from(bytes)
  const split = data.indexOf('\n\n')
  if (split === -1) throw new Error(`testkit vector ${name} has no blank line after its header`)
  const fields = new Map<string, string[]>()
  for (const line of data.toString('utf8', 0, split).split('\n')) {
    const colon = line.indexOf(': ')
    const key = line.slice(0, colon)
    fields.set(key, [...(fields.get(key) ?? []), line.slice(colon + 2)])
  }

  const expectation = fields.get('expect')?.[0] ?? ''
  if (!EXPECTATIONS.has(expectation)) throw new Error(`testkit vector ${name} expects "${expectation}"`)
  const body = data.subarray(split + 2)
  return {
    name,
    expect: expectation as Expectation,
    payload: fields.get('payload')?.[0],
    identities: fields.get('identity') ?? [],
    passphrases: fields.get('passphrase') ?? [],
    armored: fields.get('armored')?.[0] === 'yes',
    file: fields.get('compressed')?.[0] === 'zlib' ? zlib.inflateSync(body) : Buffer.from(body),
  }
}

/** Every vector the package ships, by name. */
export function testVectors(): TestVector[] {
  return Object.entries(vectors as Record<string, Uint8Array>)
    .filter(([name]) => name !== 'default')
    .map(([name, bytes]) => parse(name, bytes))
    .sort((a, b) => a.name.localeCompare(b.name))
}
