import {formatBytes} from '../../lib/format.js'

/**
 * A one-line progress display on stderr for long work. Redrawn at most ten times a second, and
 * cleared when done so the final report starts on a clean line.
 */
export function progressLine(enabled: boolean): {
  clear(): void
  update(label: string, done: number, total: number): void
} {
  let last = 0
  let drawn = false
  return {
    update(label, done, total) {
      if (!enabled) return
      const now = Date.now()
      if (now - last < 100 && done < total) return
      last = now
      const percent = total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 0
      process.stderr.write(`\r\u001B[2K${label} ${percent}% (${formatBytes(done)} of ${formatBytes(total)})`)
      drawn = true
    },
    clear() {
      if (drawn) process.stderr.write('\r\u001B[2K')
      drawn = false
    },
  }
}
