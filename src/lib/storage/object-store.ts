import type {BackupTarget} from './target.js'

/**
 * The object-store target, behind a dynamic import: the AWS SDK costs about 0.1 s to load, which
 * only `s3://` locations should pay.
 */
export async function openObjectStore(url: string): Promise<BackupTarget> {
  const {S3Bucket} = await import('./s3-bucket.js')
  return new S3Bucket(url)
}
