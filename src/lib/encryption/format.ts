/** Recognising age files by content, before any key is needed. */
export const AGE_MAGIC = Buffer.from('age-encryption.org/v1\n', 'latin1')
const ARMOR_BEGIN = Buffer.from('-----BEGIN AGE ENCRYPTED FILE-----', 'latin1')
const MAC_LINE = Buffer.from('\n---', 'latin1')

export type AgeFileKind = 'age' | 'age-armored' | 'age-passphrase'

/**
 * What kind of age file starts with `head` (a few hundred bytes suffice), or undefined for
 * anything else. A passphrase file's only stanza is `scrypt`, so the head shows it.
 */
export function ageFileKind(head: Buffer): AgeFileKind | undefined {
  if (head.subarray(0, AGE_MAGIC.length).equals(AGE_MAGIC)) {
    return head.includes('\n-> scrypt ', 0, 'latin1') ? 'age-passphrase' : 'age'
  }

  // age allows leading whitespace before the armor.
  const trimmed = head.toString('latin1', 0, Math.min(head.length, 1024)).trimStart()
  return trimmed.startsWith(ARMOR_BEGIN.toString('latin1')) ? 'age-armored' : undefined
}

export function isAgeFile(head: Buffer): boolean {
  return ageFileKind(head) !== undefined
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
