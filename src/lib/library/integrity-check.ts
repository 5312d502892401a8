import {createRequire} from 'node:module'
import {Worker} from 'node:worker_threads'

import {
  describeQuickCheck,
  type LibraryStats,
  mmapPragma,
  openCopy,
  quickCheck,
  readLibraryStats,
} from './library-database.js'

/** CommonJS source evaluated in the worker, so it runs the same from dist/ and from src/ under tsx. */
const WORKER_SOURCE = `
const {parentPort, workerData} = require('node:worker_threads')
const Database = require(workerData.sqlite)
const db = new Database(workerData.file, {fileMustExist: true, timeout: 2000})
try {
  // quick_check reads each page once: a small page cache keeps this thread's memory small.
  db.pragma('cache_size = -4000')
  if (workerData.mmap) db.pragma(workerData.mmap)
  parentPort.postMessage(db.pragma('quick_check'))
} finally {
  db.close()
}
`

/**
 * SQLite's quick_check of a finished snapshot on a worker thread, so the integrity gate runs while
 * the archive is compressed from the same file instead of before it. Resolves to the first problem,
 * or undefined; rejects when the worker could not check (the caller then checks on its own thread).
 */
export function quickCheckInBackground(file: string): Promise<string | undefined> {
  const sqlite = createRequire(import.meta.url).resolve('better-sqlite3')
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_SOURCE, {eval: true, workerData: {file, sqlite, mmap: mmapPragma(file)}})
    worker.once('message', (rows: Array<{quick_check: string}>) => resolve(describeQuickCheck(rows)))
    worker.once('error', reject)
    worker.once('exit', (code) => reject(new Error(`the integrity check ended without an answer (exit ${code})`)))
  })
}

/** The statistics; a snapshot too damaged to give them is checked at once and reported as damaged. */
export function snapshotStats(
  snapshotPath: string,
  databasePath: string,
  allowDamaged?: boolean,
): {damage?: string; stats?: LibraryStats} {
  const copy = openCopy(snapshotPath)
  try {
    return {stats: readLibraryStats(copy, databasePath)}
  } catch (error) {
    const damage = allowDamaged ? undefined : quickCheck(copy)
    if (damage) return {damage}
    throw error
  } finally {
    copy.close()
  }
}

/** quick_check on this thread, when a worker thread could not run it. */
export function inspectSnapshot(snapshotPath: string): string | undefined {
  const copy = openCopy(snapshotPath)
  try {
    return quickCheck(copy)
  } finally {
    copy.close()
  }
}
