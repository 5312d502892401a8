/** Waiting in tests: a pause, and polling for the moment a condition holds. */
export async function pause(ms: number): Promise<void> {
  await new Promise((resolve) => {
    setTimeout(resolve, ms)
  })
}

/** Polls until `predicate` holds; false on timeout. */
export async function pollUntil(predicate: () => boolean, timeoutMs = 10_000, intervalMs = 2): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (predicate()) return true
    await pause(intervalMs)
  }

  return predicate()
}
