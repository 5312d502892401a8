/**
 * Work on a backup often happens on a local copy of it: a download from object storage, or the
 * decrypted copy of an age file, both named `.vpo-backup-tmp-…` in a scratch directory. A user
 * never typed that name and cannot find the file afterwards (it is removed), so an error raised
 * while reading the copy is made to name the backup as the user gave it.
 */
export async function namingTheBackup<T>(copyPath: string, backupName: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (error) {
    throw renamed(error, copyPath, backupName)
  }
}

/** The same for an error already caught: `copyPath` (if any) becomes `backupName` in its text. */
export function renamed(error: unknown, copyPath: string | undefined, backupName: string): unknown {
  if (copyPath === undefined || copyPath === backupName || !(error instanceof Error)) return error
  error.message = error.message.replaceAll(copyPath, backupName)
  const withHint = error as Error & {hint?: string}
  if (typeof withHint.hint === 'string' && withHint.hint.includes(copyPath))
    Object.defineProperty(error, 'hint', {value: withHint.hint.replaceAll(copyPath, backupName)})
  return error
}
