/** Human-readable sizes in decimal units, as file managers and `df -H` show them. */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`
  const units = ['KB', 'MB', 'GB', 'TB']
  let value = bytes
  let unit = 'B'
  for (const next of units) {
    if (value < 1000) break
    value /= 1000
    unit = next
  }

  return `${value.toFixed(1)} ${unit}`
}

export function formatCount(count: bigint | number): string {
  return count.toLocaleString('en-US')
}

export function formatSeconds(seconds: number): string {
  return seconds < 10 ? `${seconds.toFixed(2)} s` : `${seconds.toFixed(1)} s`
}
