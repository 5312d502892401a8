/**
 * Backups made one per wall-clock second. Within one second, a name freed by pruning is taken
 * again and sorts before the `-2` made earlier in that second; tests about other things avoid it.
 */
let lastSecond = 0

export async function inANewSecond<T>(run: () => Promise<T>): Promise<T> {
  while (Math.floor(Date.now() / 1000) === lastSecond) await new Promise((resolve) => setTimeout(resolve, 50))
  try {
    return await run()
  } finally {
    lastSecond = Math.floor(Date.now() / 1000)
  }
}
