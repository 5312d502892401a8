/**
 * Runs s3rver (npm s3rver@3.7.1) in its own process, as a real S3-compatible server on 127.0.0.1.
 * Usage: node --import tsx s3rver-child.ts DATA_DIR BUCKET...; prints {"port": N} once listening.
 *
 * s3rver answers AbortMultipartUpload with 405 and ListMultipartUploads with NotImplemented. Both
 * are added here, on s3rver's own upload directory, so tests can prove that nothing is left
 * dangling the way a user would check it (aws s3api list-multipart-uploads). A request for an
 * upload that no longer exists gets S3's NoSuchUpload.
 */
import fs from 'node:fs'
import {createRequire} from 'node:module'
import path from 'node:path'

interface Context {
  method: string
  path: string
  query: Record<string, string | undefined>
  status: number
  body: unknown
  type: string
}
interface S3rverInstance {
  middleware: Array<(ctx: Context, next: () => Promise<void>) => Promise<void>>
  run(): Promise<{address: string; port: number}>
}
type S3rverClass = new (options: Record<string, unknown>) => S3rverInstance

const require = createRequire(import.meta.url)
const S3rver = require('s3rver') as S3rverClass

const [dataDir, ...buckets] = process.argv.slice(2)
const uploadsDir = (bucket: string): string => path.join(dataDir, bucket, '._S3rver_uploads')
const escapeXml = (text: string): string =>
  text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')

const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory: dataDir,
  configureBuckets: buckets.map((name) => ({name, configs: []})),
})

server.middleware.unshift(async (ctx, next) => {
  const [, bucket, ...keyParts] = ctx.path.split('/')
  if (ctx.query.uploadId !== undefined && keyParts.length > 0) {
    // Like S3, and unlike s3rver (which answers 500, or quietly recreates the upload for a part).
    const dir = path.join(uploadsDir(bucket), path.basename(ctx.query.uploadId))
    if (!fs.existsSync(dir)) {
      ctx.status = 404
      ctx.type = 'application/xml'
      ctx.body =
        '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>'
      return
    }

    if (ctx.method === 'DELETE') {
      fs.rmSync(dir, {recursive: true, force: true})
      ctx.status = 204
      return
    }
  }

  if (ctx.method === 'GET' && ctx.query.uploads !== undefined && keyParts.join('') === '') {
    const ids = fs.existsSync(uploadsDir(bucket)) ? fs.readdirSync(uploadsDir(bucket)) : []
    const uploads = ids.map((id) => {
      const key = fs.readFileSync(path.join(uploadsDir(bucket), id, 'key'), 'utf8')
      return `<Upload><Key>${escapeXml(key)}</Key><UploadId>${escapeXml(id)}</UploadId></Upload>`
    })
    ctx.type = 'application/xml'
    ctx.body = `<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult><Bucket>${escapeXml(bucket)}</Bucket><IsTruncated>false</IsTruncated>${uploads.join('')}</ListMultipartUploadsResult>`
    return
  }

  await next()
})

// A parent that dies without stopping us (a killed mocha) closes our stdin: leave no server behind.
process.stdin.on('end', () => {
  fs.rmSync(dataDir, {recursive: true, force: true})
  process.exit(0)
})
process.stdin.resume()

const {port} = await server.run()
process.stdout.write(`${JSON.stringify({port})}\n`)
