/**
 * What makes a public key unusable as a recipient, found when it is read rather than after a
 * night's snapshot: a low-order X25519 point (every sender would derive the all-zero secret) or
 * Ed25519 bytes that are no point of the curve. The reasons are fixed phrases, never the key or
 * a big number from a library's message.
 */
import crypto from 'node:crypto'

/** A key that is well-formed text but cannot be encrypted to, with a reason safe to show. */
export class UnusableKey extends Error {}

const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex')
const P = 2n ** 255n - 19n
const D = mod(-121_665n * inverse(121_666n))

let probe: crypto.KeyObject | undefined

/** Throws UnusableKey unless an X25519 exchange with `point` gives a usable (non-zero) secret. */
export function assertUsableX25519(point: Uint8Array): void {
  if (point.length !== 32) throw new UnusableKey('it is not 32 bytes long')
  probe ??= crypto.generateKeyPairSync('x25519').privateKey
  try {
    const publicKey = crypto.createPublicKey({key: Buffer.concat([SPKI_PREFIX, point]), format: 'der', type: 'spki'})
    // OpenSSL refuses to derive the all-zero secret, which is what a low-order point gives.
    crypto.diffieHellman({privateKey: probe, publicKey})
  } catch {
    throw new UnusableKey('it is a low-order point, which would make an all-zero key anyone can compute')
  }
}

/**
 * Checks an Ed25519 public key as age's conversion needs it (a canonical encoding of a point on
 * the curve, RFC 8032 §5.1.3) and that its X25519 form is usable, without loading @noble/curves.
 */
export function assertUsableEd25519(edwards: Uint8Array): void {
  if (edwards.length !== 32) throw new UnusableKey('it is not 32 bytes long')
  const bytes = Buffer.from(edwards)
  // The top bit is the sign of x; the other 255 bits are y.
  const xIsOdd = bytes[31] >= 0x80
  bytes[31] %= 0x80
  const y = BigInt('0x' + Buffer.from(bytes).reverse().toString('hex'))
  const notOnCurve = new UnusableKey('its 32 bytes are not a point on the Ed25519 curve')
  if (y >= P) throw notOnCurve
  const xSquared = mod((y * y - 1n) * inverse(mod(D * y * y + 1n)))
  if (xSquared === 0n ? xIsOdd : power(xSquared, (P - 1n) / 2n) !== 1n) throw notOnCurve
  if (y === 1n) throw new UnusableKey('it is the neutral point, which would make an all-zero key')
  // The Montgomery form age encrypts to: u = (1 + y) / (1 - y).
  const u = mod((1n + y) * inverse(mod(1n - y)))
  assertUsableX25519(Buffer.from(u.toString(16).padStart(64, '0'), 'hex').reverse())
}

function mod(value: bigint): bigint {
  const rest = value % P
  return rest < 0n ? rest + P : rest
}

function power(base: bigint, exponent: bigint): bigint {
  let result = 1n
  let b = mod(base)
  for (let e = exponent; e > 0n; e /= 2n) {
    if (e % 2n === 1n) result = mod(result * b)
    b = mod(b * b)
  }

  return result
}

/** Fermat: p is prime, so a^(p-2) is 1/a (and 0 stays 0, which callers rule out). */
function inverse(value: bigint): bigint {
  return power(value, P - 2n)
}
