import readline from 'node:readline/promises'

/** Asks a yes/no question on the terminal; anything but y or yes is no. */
export async function askYesNo(question: string): Promise<boolean> {
  const rl = readline.createInterface({input: process.stdin, output: process.stderr})
  try {
    const answer = await rl.question(`${question} [y/N] `)
    return /^y(es)?$/i.test(answer.trim())
  } catch {
    return false
  } finally {
    rl.close()
  }
}
