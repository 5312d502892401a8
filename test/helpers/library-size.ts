/**
 * A library that loses or gains files the way a rescan does it: rows deleted from or added to the
 * real SQLite `files` table (WAL mode, as the daemon leaves it).
 */
import Database from 'better-sqlite3'

/** Keeps the first `count` files of the library and deletes the rest (a drive that was not mounted). */
export function keepFiles(databasePath: string, count: number): void {
  const db = new Database(databasePath)
  try {
    db.prepare('DELETE FROM tracks WHERE file_id NOT IN (SELECT id FROM files ORDER BY id LIMIT ?)').run(count)
    db.prepare('DELETE FROM files WHERE id NOT IN (SELECT id FROM files ORDER BY id LIMIT ?)').run(count)
  } finally {
    db.close()
  }
}

/** Adds a copy of every file under another path: the library doubles. */
export function doubleFiles(databasePath: string): void {
  const db = new Database(databasePath)
  try {
    db.exec(`INSERT INTO files (path, filename, directory, extension, size_bytes, modified_at, scanned_at)
      SELECT path || '.copy', filename, directory, extension, size_bytes, modified_at, scanned_at FROM files`)
  } finally {
    db.close()
  }
}

export function fileCount(databasePath: string): number {
  const db = new Database(databasePath, {readonly: true})
  try {
    return (db.prepare('SELECT COUNT(*) AS n FROM files').get() as {n: number}).n
  } finally {
    db.close()
  }
}
