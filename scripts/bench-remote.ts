/**
 * The object-storage and start-up parts of `npm run bench`: whole processes of the real commands
 * against a real S3 server (s3rver) on loopback, beside the same command on a local directory, and
 * the start-up of `--help` and of a listing of an empty directory beside a bare `node -e ''`.
 */
import fs from 'node:fs'
import path from 'node:path'

import {startS3Server} from '../test/helpers/s3-server.js'

export interface Timed {
  seconds: number
  rssKb: null | number
  stdout: string
}

export interface RemoteBenchContext {
  node: string
  runJs: string
  runs: number
  scratch: string
  /** A fresh data directory holding the fixture library, named `name`. */
  freshDataDir(name: string): string
  measure(command: string, args: string[], env?: NodeJS.ProcessEnv): Timed
  log(message: string): void
}

export interface RemoteFigures {
  backupLocal: Timed[]
  backupRemote: Timed[]
  restoreLocal: Timed[]
  restoreRemote: Timed[]
  listRemote: Timed[]
  listed: number
}

const BUCKET = 'bench'

/** backup to s3:// vs a local backup; restore from s3:// vs local; listing 50 remote archives. */
export async function benchObjectStorage(
  ctx: RemoteBenchContext,
  archive: string,
  listingCount: number,
): Promise<RemoteFigures> {
  const server = await startS3Server([BUCKET])
  const env = {...process.env, ...server.env}
  const figures: RemoteFigures = {
    backupLocal: [],
    backupRemote: [],
    restoreLocal: [],
    restoreRemote: [],
    listRemote: [],
    listed: 0,
  }
  try {
    const dataDir = ctx.freshDataDir('remote-data')
    const local = path.join(ctx.scratch, 'remote-local')
    for (let i = 0; i < ctx.runs; i++) {
      fs.rmSync(local, {recursive: true, force: true})
      fs.mkdirSync(local)
      const sides = i % 2 === 0 ? ['local', 's3'] : ['s3', 'local']
      for (const side of sides) {
        const output = side === 'local' ? `${local}/` : `s3://${BUCKET}/backups/`
        const m = ctx.measure(ctx.node, [ctx.runJs, 'library:backup', '--output', output, '--json'], {
          ...env,
          VPO_DATA_DIR: dataDir,
        })
        ;(side === 'local' ? figures.backupLocal : figures.backupRemote).push(m)
        ctx.log(`  backup to ${side.padEnd(5)} run ${i + 1}/${ctx.runs}: ${m.seconds.toFixed(2)} s`)
      }
    }

    // One archive of the fixture in the store, restored as a whole process like the local one.
    const upload = ctx.measure(
      ctx.node,
      [ctx.runJs, 'library:backup', '--output', `s3://${BUCKET}/restore/`, '--json'],
      {...env, VPO_DATA_DIR: dataDir},
    )
    const remoteArchive = (JSON.parse(upload.stdout) as {path: string}).path
    for (let i = 0; i < ctx.runs; i++) {
      const sides = i % 2 === 0 ? ['local', 's3'] : ['s3', 'local']
      for (const side of sides) {
        const target = ctx.freshDataDir('remote-restore')
        const source = side === 'local' ? archive : remoteArchive
        const m = ctx.measure(
          ctx.node,
          [ctx.runJs, 'library:restore', source, '--yes', '--no-safety-backup', '--json'],
          {...env, VPO_DATA_DIR: target},
        )
        ;(side === 'local' ? figures.restoreLocal : figures.restoreRemote).push(m)
        ctx.log(`  restore from ${side.padEnd(5)} run ${i + 1}/${ctx.runs}: ${m.seconds.toFixed(2)} s`)
      }
    }

    // 50 archives in the store: the listing reads the first kilobytes of each, several at a time.
    for (let n = 0; n < listingCount; n++) {
      const name = `vpo-library-2026-01-01T0000${String(n).padStart(2, '0')}Z.tar.gz`
      fs.copyFileSync(archive, path.join(local, name))
    }

    const sync = ctx.measure(ctx.node, [ctx.runJs, 'library:backups', '--path', local, '--json'], env)
    for (const entry of (JSON.parse(sync.stdout) as {backups: Array<{filename: string; path: string}>}).backups) {
      if (!entry.filename.startsWith('vpo-library-2026-01-01')) continue
      await uploadRaw(server.endpoint, env, entry.path, `listing/${entry.filename}`)
    }

    for (let i = 0; i < ctx.runs; i++) {
      const m = ctx.measure(
        ctx.node,
        [ctx.runJs, 'library:backups', '--path', `s3://${BUCKET}/listing/`, '--json'],
        env,
      )
      figures.listed = (JSON.parse(m.stdout) as {total_count: number}).total_count
      figures.listRemote.push(m)
      ctx.log(`  listing s3 run ${i + 1}/${ctx.runs}: ${m.seconds.toFixed(2)} s`)
    }
  } finally {
    await server.stop()
  }

  return figures
}

/** The bench's own upload of a fixture archive (not what is measured). */
async function uploadRaw(endpoint: string, env: NodeJS.ProcessEnv, file: string, key: string): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
  const {PutObjectCommand, S3Client} = await import('@aws-sdk/client-s3')
  const client = new S3Client({
    endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: {accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY!},
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  })
  try {
    await client.send(new PutObjectCommand({Bucket: BUCKET, Key: key, Body: fs.readFileSync(file)}))
  } finally {
    client.destroy()
  }
}

/** Start-up: `library:backup --help` and `library:backups` of an empty directory, beside `node -e ''`. */
export function benchStartup(ctx: RemoteBenchContext): {bare: Timed[]; help: Timed[]; empty: Timed[]} {
  const emptyDir = path.join(ctx.scratch, 'empty')
  fs.mkdirSync(emptyDir, {recursive: true})
  const figures = {bare: [] as Timed[], help: [] as Timed[], empty: [] as Timed[]}
  for (let i = 0; i < ctx.runs * 2; i++) {
    figures.bare.push(ctx.measure(ctx.node, ['-e', '']))
    figures.help.push(ctx.measure(ctx.node, [ctx.runJs, 'library:backup', '--help']))
    figures.empty.push(ctx.measure(ctx.node, [ctx.runJs, 'library:backups', '--path', emptyDir]))
  }

  ctx.log(`  start-up: ${figures.help.length} runs each of node -e '', --help, an empty listing`)
  return figures
}
