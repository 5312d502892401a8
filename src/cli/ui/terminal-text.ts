/**
 * Text from an archive (its metadata) or from a file name can carry control characters: a crafted
 * `vpo_version` could move the cursor, print a fake line or set the terminal's title. Everything
 * such text reaches a terminal through here: C0 and C1 controls, DEL and the Unicode line
 * separators are shown as escapes (`\x1b`, `\n`), so what is printed is what is there.
 */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001F\u007F-\u009F\u2028\u2029]/g

export function escapeForTerminal(text: string): string {
  return text.replaceAll(CONTROL, (char) => {
    const code = char.codePointAt(0)!
    if (char === '\n') return String.raw`\n`
    if (char === '\r') return String.raw`\r`
    if (char === '\t') return String.raw`\t`
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`
  })
}
