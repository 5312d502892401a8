/**
 * A real S3-compatible server for tests: s3rver in a child process on 127.0.0.1, a random free
 * port and a private data directory. Nothing is mocked; requests travel over real HTTP.
 */
import {type ChildProcess, spawn} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 's3rver-child.ts')

/** s3rver's built-in account. */
export const S3RVER_CREDENTIALS = {AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER'}

export interface S3Server {
  endpoint: string
  port: number
  dataDir: string
  /** The environment a client needs to reach this server (the AWS conventions only). */
  env: Record<string, string>
  stop(): Promise<void>
}

export async function startS3Server(buckets: string[]): Promise<S3Server> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpo-s3rver-'))
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dataDir, ...buckets], {
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr?.on('data', (chunk) => (stderr += chunk))
  const port = await new Promise<number>((resolve, reject) => {
    let stdout = ''
    const timer = setTimeout(() => reject(new Error(`s3rver did not start within 20 s: ${stderr}`)), 20_000)
    child.stdout?.on('data', (chunk) => {
      stdout += chunk
      const line = stdout.split('\n').find((text) => text.startsWith('{'))
      if (!line) return
      clearTimeout(timer)
      resolve((JSON.parse(line) as {port: number}).port)
    })
    child.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`s3rver exited with ${code}: ${stderr}`))
    })
  })
  const endpoint = `http://127.0.0.1:${port}`
  return {
    endpoint,
    port,
    dataDir,
    env: {...S3RVER_CREDENTIALS, AWS_ENDPOINT_URL_S3: endpoint, AWS_REGION: 'us-east-1'},
    stop: () => stop(child, dataDir),
  }
}

async function stop(child: ChildProcess, dataDir: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    await exited
  }

  fs.rmSync(dataDir, {recursive: true, force: true})
}

const AWS_ISOLATION: Record<string, string | undefined> = {
  // The developer's own ~/.aws must neither help nor hurt a test.
  AWS_CONFIG_FILE: '/nonexistent/vpo-test/config',
  AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/vpo-test/credentials',
  AWS_PROFILE: undefined,
  AWS_SESSION_TOKEN: undefined,
  AWS_ENDPOINT_URL: undefined,
  AWS_DEFAULT_REGION: undefined,
  AWS_EC2_METADATA_DISABLED: 'true',
  // For the tests' own plain clients; the S3 target silences the notice itself (tested apart).
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  // Short bounds keep failing tests fast; the defaults are 4 attempts and 30 s.
  VPO_S3_MAX_ATTEMPTS: '4',
  VPO_S3_RETRY_DELAY_MS: '20',
  VPO_S3_RETRY_BUDGET_MS: '5000',
  VPO_S3_IDLE_TIMEOUT_MS: '1000',
  VPO_S3_MULTIPART_THRESHOLD: undefined,
  VPO_S3_PART_SIZE: undefined,
}

/** Sets process.env for an in-process client; call the result to put everything back. */
export function useEnv(values: Record<string, string | undefined>): () => void {
  const merged = {...AWS_ISOLATION, ...values}
  const saved = Object.fromEntries(Object.keys(merged).map((key) => [key, process.env[key]]))
  apply(merged)
  return () => apply(saved)
}

function apply(values: Record<string, string | undefined>): void {
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined) delete process.env[key]
    else process.env[key] = value
  }
}

/**
 * A test's own client of `server`, to look at and tamper with what the CLI stored. The CLI
 * silences the SDK's Node 20 notice itself; this client is told to, and, as s3rver needs, sends
 * checksums only when an operation requires them.
 */
export async function clientOf(server: S3Server): Promise<import('@aws-sdk/client-s3').S3Client> {
  const {S3Client} = await import('@aws-sdk/client-s3')
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
  return new S3Client({
    endpoint: server.endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    credentials: {accessKeyId: server.env.AWS_ACCESS_KEY_ID, secretAccessKey: server.env.AWS_SECRET_ACCESS_KEY},
  })
}
