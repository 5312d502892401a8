import readline from 'node:readline'

/**
 * Asks a yes/no question on the terminal; anything but y or yes is no. Ctrl-C at the prompt is
 * an interrupt like anywhere else: it goes to the process's SIGINT handling, which cleans up.
 */
export async function askYesNo(question: string): Promise<boolean> {
  const rl = readline.createInterface({input: process.stdin, output: process.stderr})
  return new Promise((resolve) => {
    rl.on('SIGINT', () => {
      rl.close()
      process.kill(process.pid, 'SIGINT')
    })
    rl.on('close', () => resolve(false))
    rl.question(`${question} [y/N] `, (answer) => {
      resolve(/^y(es)?$/i.test(answer.trim()))
      rl.close()
    })
  })
}
