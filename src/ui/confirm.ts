import readline from 'node:readline/promises'

/**
 * Asks a yes/no question on the terminal; anything but y or yes is no. Ctrl-C at the prompt is
 * an interrupt like anywhere else: it goes to the process's SIGINT handling, which cleans up.
 */
export async function askYesNo(question: string): Promise<boolean> {
  const rl = readline.createInterface({input: process.stdin, output: process.stderr})
  rl.on('SIGINT', () => {
    rl.close()
    process.kill(process.pid, 'SIGINT')
  })
  try {
    const answer = await rl.question(`${question} [y/N] `)
    return /^y(es)?$/i.test(answer.trim())
  } catch {
    return false
  } finally {
    rl.close()
  }
}
