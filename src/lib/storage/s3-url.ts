import {LibraryBackupError} from '../errors.js'

/**
 * Parsing `s3://` locations lives apart from the client so that recognising one never loads the
 * AWS SDK: local commands must not pay for it.
 */
export interface S3Location {
  bucket: string
  /** '' for the bucket's root, else the key prefix ending in '/'. */
  prefix: string
}

export interface S3ObjectUrl extends S3Location {
  /** The object's name below the prefix. */
  name: string
}

export function isS3Url(text: string): boolean {
  return text.toLowerCase().startsWith('s3://')
}

/** `s3://BUCKET/PREFIX/` (the trailing slash is optional) as a bucket and a normalised prefix. */
export function parseS3Url(text: string): S3Location {
  const {bucket, rest} = split(text)
  const trimmed = rest.replace(/^\/+/, '')
  if (trimmed.split('/').some((segment, i, all) => segment === '' && i < all.length - 1)) {
    throw usage(text, 'the prefix contains an empty path segment (//)')
  }

  return {bucket, prefix: trimmed === '' || trimmed.endsWith('/') ? trimmed : `${trimmed}/`}
}

/** `s3://BUCKET/PREFIX/NAME`: one object, split into its location and its name. */
export function parseS3ObjectUrl(text: string): S3ObjectUrl {
  const {bucket, rest} = split(text)
  const key = rest.replace(/^\/+/, '')
  if (key === '' || key.endsWith('/')) throw usage(text, 'it names a prefix, not an object')
  const cut = key.lastIndexOf('/') + 1
  return {bucket, prefix: key.slice(0, cut), name: key.slice(cut)}
}

export function formatS3Url(location: S3Location, name = ''): string {
  return `s3://${location.bucket}/${location.prefix}${name}`
}

function split(text: string): {bucket: string; rest: string} {
  if (!isS3Url(text)) throw usage(text, 'it does not start with s3://')
  const body = text.slice('s3://'.length)
  const slash = body.indexOf('/')
  const bucket = slash === -1 ? body : body.slice(0, slash)
  // Lenient beyond AWS's rules (uppercase, underscores) because other stores allow them.
  if (!/^[\w.-]{3,63}$/.test(bucket)) throw usage(text, `"${bucket}" is not a valid bucket name`)
  return {bucket, rest: slash === -1 ? '' : body.slice(slash + 1)}
}

function usage(text: string, reason: string): LibraryBackupError {
  return new LibraryBackupError('USAGE_ERROR', `${text} is not a usable S3 location: ${reason}`, {
    hint: 'Write it as s3://BUCKET/PREFIX/.',
  })
}

/**
 * `--output s3://…`: a URL whose last segment is an archive name (`….tar.gz`, `….tar.gz.age`)
 * names the object to write; anything else is a prefix, with or without its trailing slash, as an
 * existing local directory is. `s3://bucket/nas` once wrote one object named `nas` beside the
 * `nas/` prefix, which no listing, prune or `--latest` ever saw. A last segment that looks like a
 * file of another kind (`x.tgz`, `x.zip`) is refused rather than made a prefix nobody meant.
 */
export function splitS3Output(text: string): {prefixUrl: string; name?: string} {
  const {bucket, rest} = split(text)
  const key = rest.replace(/^\/+/, '')
  const cut = key.lastIndexOf('/') + 1
  const last = key.slice(cut)
  if (/\.tar\.gz(\.age)?$/.test(last) && !/^\.tar\.gz(\.age)?$/.test(last))
    return {prefixUrl: formatS3Url(parseS3Url(`s3://${bucket}/${key.slice(0, cut)}`)), name: last}
  if (/\.(age|bak|db|gz|tar|tgz|xz|zip|zst)$/i.test(last)) {
    throw new LibraryBackupError(
      'USAGE_ERROR',
      `${text} names an object that is not a backup archive: an object name must end in .tar.gz (or .tar.gz.age when encrypted)`,
      {hint: `Pass s3://${bucket}/${key.slice(0, cut)} to get a timestamped name, or a name ending in .tar.gz.`},
    )
  }

  return {prefixUrl: formatS3Url(parseS3Url(text))}
}
