/**
 * The age header's text format (age-encryption.org/v1, "Header"), parsed as strictly as the
 * reference implementations: a header that age would refuse, we refuse.
 */
import {base64nopad} from '@scure/base'

export interface Stanza {
  /** The type first (`X25519`, `ssh-ed25519`…), then its arguments. */
  args: string[]
  body: Buffer
}

/** Wraps the file key for one recipient (a `-r`/`-R` key). */
export interface Recipient {
  wrapFileKey(fileKey: Buffer): Promise<Stanza[]> | Stanza[]
}

/**
 * Unwraps the file key if one of the stanzas is for this identity: null when none is, an error
 * when one is (recognisably) ours but damaged.
 */
export interface Identity {
  unwrapFileKey(stanzas: Stanza[]): Buffer | null | Promise<Buffer | null>
}

const VERSION_LINE = 'age-encryption.org/v1'
const BODY_LINE_BYTES = 48

export class HeaderFormatError extends Error {}

/** Everything the MAC covers: the header up to and including `---`. */
export function encodeHeaderWithoutMac(stanzas: readonly Stanza[]): Buffer {
  const lines = [`${VERSION_LINE}\n`]
  for (const stanza of stanzas) {
    lines.push(`-> ${stanza.args.join(' ')}\n`)
    // The body ends with a line shorter than 64 columns, so a multiple of 48 bytes gets an empty one.
    for (let start = 0; start <= stanza.body.length; start += BODY_LINE_BYTES) {
      lines.push(`${base64nopad.encode(stanza.body.subarray(start, start + BODY_LINE_BYTES))}\n`)
    }
  }

  lines.push('---')
  return Buffer.from(lines.join(''), 'latin1')
}

export function encodeHeader(stanzas: readonly Stanza[], mac: Buffer): Buffer {
  return Buffer.concat([encodeHeaderWithoutMac(stanzas), Buffer.from(` ${base64nopad.encode(mac)}\n`, 'latin1')])
}

function decode(text: string): Buffer {
  try {
    return Buffer.from(base64nopad.decode(text))
  } catch {
    throw new HeaderFormatError('a header line is not canonical base64')
  }
}

export interface ParsedHeader {
  stanzas: Stanza[]
  mac: Buffer
  /** The bytes the MAC covers. */
  withoutMac: Buffer
}

/** Parses exactly one header: `header` ends with the newline after the MAC. */
export function parseHeader(header: Buffer): ParsedHeader {
  const lines = header.toString('latin1').split('\n')
  if (lines.pop() !== '') throw new HeaderFormatError('the header does not end with a newline')
  if (lines.shift() !== VERSION_LINE) throw new HeaderFormatError('unknown age version')
  const stanzas: Stanza[] = []
  while (lines.length > 0) {
    const line = lines.shift()!
    if (line.startsWith('--- ')) {
      const mac = decode(line.slice(4))
      if (lines.length > 0 || mac.length !== 32) throw new HeaderFormatError('malformed MAC line')
      return {stanzas, mac, withoutMac: header.subarray(0, header.length - line.length + 2)}
    }

    if (!line.startsWith('-> ')) throw new HeaderFormatError('malformed stanza line')
    const args = line.slice(3).split(' ')
    if (args.some((arg) => !/^[\u0021-\u007E]+$/.test(arg))) throw new HeaderFormatError('malformed stanza arguments')
    const body: Buffer[] = []
    for (;;) {
      const bodyLine = lines.shift()
      if (bodyLine === undefined) throw new HeaderFormatError('a stanza body is cut off')
      const bytes = decode(bodyLine)
      if (bytes.length > BODY_LINE_BYTES) throw new HeaderFormatError('a stanza body line is too long')
      body.push(bytes)
      if (bytes.length < BODY_LINE_BYTES) break
    }

    stanzas.push({args, body: Buffer.concat(body)})
  }

  throw new HeaderFormatError('the header has no MAC line')
}
