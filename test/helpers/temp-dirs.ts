/** Private temporary directories, removed together by `cleanupTempDirs()` (each suite's `after`). */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

const made: string[] = []

/** A fresh directory under the OS temp dir, removed by `cleanupTempDirs()`. */
export function makeTempDir(label = 'vpo-test'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${label}-`))
  made.push(dir)
  return dir
}

export function cleanupTempDirs(): void {
  while (made.length > 0) fs.rmSync(made.pop()!, {recursive: true, force: true})
}
