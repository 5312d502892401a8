/** Recognising age files by content, before any key is needed (no crypto is loaded for it). */
import fsp from 'node:fs/promises'

const VERSION_PREFIX = Buffer.from('age-encryption.org/', 'latin1')
const ARMOR_BEGIN = '-----BEGIN AGE ENCRYPTED FILE-----'
const MAC_LINE = Buffer.from('\n---', 'latin1')
/** Enough for the version line, the first stanza line and armor after age's allowed leading whitespace. */
export const HEAD_BYTES = 1024

export type AgeFileKind = 'age' | 'age-armored' | 'age-passphrase'

/**
 * What kind of age file starts with `head` (a few hundred bytes suffice), or undefined for
 * anything else: the one test of "is this an age file?". A passphrase file's only stanza is
 * `scrypt`, so the head shows it. Any version line counts, so that a file from a later age version
 * is refused as an age file whose header this plugin cannot read, not as a broken gzip.
 */
export function ageFileKind(head: Buffer): AgeFileKind | undefined {
  if (head.subarray(0, VERSION_PREFIX.length).equals(VERSION_PREFIX)) {
    return head.includes('\n-> scrypt ', 0, 'latin1') ? 'age-passphrase' : 'age'
  }

  // age allows leading whitespace before the armor.
  const trimmed = head.toString('latin1', 0, Math.min(head.length, HEAD_BYTES)).trimStart()
  return trimmed.startsWith(ARMOR_BEGIN) ? 'age-armored' : undefined
}

/** ageFileKind of the file at `filePath`, from its first bytes. */
export async function readAgeFileKind(filePath: string): Promise<AgeFileKind | undefined> {
  // A file that cannot be opened is left to the archive reader, which names that problem properly.
  const handle = await fsp.open(filePath, 'r').catch(() => {})
  if (!handle) return undefined
  try {
    const head = Buffer.alloc(HEAD_BYTES)
    const {bytesRead} = await handle.read(head, 0, head.length, 0)
    return ageFileKind(head.subarray(0, bytesRead))
  } finally {
    await handle.close()
  }
}

/**
 * The header's length, through the newline that ends the `--- MAC` line, or undefined when `data`
 * ends first. Body lines are base64 and stanza lines start `-> `, so the first `\n---` is the MAC.
 */
export function headerLength(data: Buffer): number | undefined {
  const macLine = data.indexOf(MAC_LINE)
  if (macLine === -1) return undefined
  const end = data.indexOf(0x0a, macLine + 1)
  return end === -1 ? undefined : end + 1
}
