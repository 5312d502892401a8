/**
 * Micro benchmark (a report, not a test) for age encryption of a backup-sized archive: our file
 * functions (Node's ChaCha20-Poly1305) against age-encryption's own pure-JS streaming and the
 * `age` tool, each in a fresh process so peak RSS is its own.
 *
 *   npm run build && npx tsx scripts/bench-encryption.ts [--mb 33] [--runs 3]
 *
 * Module loading is timed apart ("load"): a CLI process pays it once per run. Ours is loaded from
 * dist/ (compiled, as shipped) when built, else from src/ through tsx.
 */
import {spawnSync} from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {Readable, Writable} from 'node:stream'
import {fileURLToPath} from 'node:url'
import {parseArgs} from 'node:util'

type Ours = typeof import('../src/lib/encryption/index.js')
type Reference = typeof import('age-encryption')

const SELF = fileURLToPath(import.meta.url)
const DIST = path.join(path.dirname(SELF), '..', 'dist', 'lib', 'encryption', 'index.js')
/** The 100 MB library's backup takes ~0.96 s and its restore about as long: the budget is 15%. */
const BACKUP_SECONDS = 0.96
const VARIANTS = ['plain-write', 'ours-inline', 'copy', 'ours-encrypt', 'ours-decrypt', 'ours-head', 'lib-encrypt', 'lib-decrypt', 'age-encrypt', 'age-decrypt'] as const
type Variant = (typeof VARIANTS)[number]

interface Files {
  dir: string
  plain: string
  sealed: string
  keyFile: string
  recipient: string
}

async function webToFile(stream: ReadableStream<Uint8Array>, file: string): Promise<void> {
  await stream.pipeTo(Writable.toWeb(fs.createWriteStream(file, {flags: 'wx', mode: 0o600})))
}

function webFromFile(file: string): ReadableStream<Uint8Array> {
  return Readable.toWeb(fs.createReadStream(file, {highWaterMark: 1024 * 1024})) as ReadableStream<Uint8Array>
}

/** Set by the write variants, which must not count reading their input. */
let inlineSeconds: number | undefined
let inlineCpu: NodeJS.CpuUsage | undefined

async function loadOurs(): Promise<Ours> {
  return fs.existsSync(DIST) ? ((await import(DIST)) as Ours) : import('../src/lib/encryption/index.js')
}

async function runVariant(variant: Variant, files: Files, modules: {ours?: Ours; reference?: Reference}): Promise<void> {
  const out = path.join(files.dir, `out-${variant}-${process.pid}`)
  const secret = fs.readFileSync(files.keyFile, 'utf8').trim()
  const {decryptFile, decryptHead, encryptFile, loadIdentities, parseRecipients} = modules.ours ?? ({} as Ours)
  const {Decrypter, Encrypter} = modules.reference ?? ({} as Reference)
  switch (variant) {
    // The archive writer's pattern: 2 MiB appends then the head at 0, fsync. `ours-inline` minus
    // `plain-write` is what encrypting while writing adds to a backup.
    case 'plain-write':
    case 'ours-inline': {
      const data = fs.readFileSync(files.plain)
      const start = process.hrtime.bigint()
      const cpuStart = process.cpuUsage()
      const sink = variant === 'ours-inline' ? await modules.ours!.AgeFileWriter.create(out, parseRecipients([files.recipient])) : await fs.promises.open(out, 'wx', 0o600)
      for (let at = 1024; at < data.length; at += 2 * 1024 * 1024) {
        const piece = data.subarray(at, Math.min(data.length, at + 2 * 1024 * 1024))
        await sink.write(piece, 0, piece.length, at)
      }

      await sink.write(data.subarray(0, 1024), 0, 1024, 0)
      await sink.sync()
      await sink.close()
      inlineSeconds = Number(process.hrtime.bigint() - start) / 1e9
      inlineCpu = process.cpuUsage(cpuStart)
      break
    }

    case 'copy': {
      fs.copyFileSync(files.plain, out)
      break
    }

    case 'ours-encrypt': {
      await encryptFile(files.plain, out, parseRecipients([files.recipient]))
      break
    }

    case 'ours-decrypt': {
      await decryptFile(files.sealed, out, await loadIdentities([files.keyFile]))
      break
    }

    case 'ours-head': {
      await decryptHead(files.sealed, await loadIdentities([files.keyFile]))
      break
    }

    case 'lib-encrypt': {
      const encrypter = new Encrypter()
      encrypter.addRecipient(files.recipient)
      await webToFile(await encrypter.encrypt(webFromFile(files.plain)), out)
      break
    }

    case 'lib-decrypt': {
      const decrypter = new Decrypter()
      decrypter.addIdentity(secret)
      await webToFile(await decrypter.decrypt(webFromFile(files.sealed)), out)
      break
    }

    case 'age-encrypt': {
      spawnSync('age', ['-r', files.recipient, '-o', out, files.plain], {stdio: 'inherit'})
      break
    }

    case 'age-decrypt': {
      spawnSync('age', ['-d', '-i', files.keyFile, '-o', out, files.sealed], {stdio: 'inherit'})
      break
    }
  }

  fs.rmSync(out, {force: true})
}

interface Sample {
  /** User + system CPU of the work: steadier than wall time on a shared machine. */
  cpuSeconds: number
  loadSeconds: number
  rssMb: number
  seconds: number
}

function measure(variant: Variant, files: Files): Sample {
  const result = spawnSync(process.execPath, ['--import', 'tsx', SELF, '--child', variant, '--files', JSON.stringify(files)], {encoding: 'utf8'})
  if (result.status !== 0) throw new Error(`${variant} failed: ${result.stderr}`)
  return JSON.parse(result.stdout.trim().split('\n').at(-1)!)
}

async function child(variant: Variant, files: Files): Promise<void> {
  const loadStart = process.hrtime.bigint()
  const modules = {
    ours: variant.startsWith('ours-') || variant === 'plain-write' ? await loadOurs() : undefined,
    reference: variant.startsWith('lib-') ? await import('age-encryption') : undefined,
  }
  const start = process.hrtime.bigint()
  const cpuStart = process.cpuUsage()
  await runVariant(variant, files, modules)
  const seconds = inlineSeconds ?? Number(process.hrtime.bigint() - start) / 1e9
  const cpu = inlineCpu ?? process.cpuUsage(cpuStart)
  const cpuSeconds = (cpu.user + cpu.system) / 1e6
  const loadSeconds = Number(start - loadStart) / 1e9
  console.log(JSON.stringify({seconds, cpuSeconds, loadSeconds, rssMb: process.resourceUsage().maxRSS / 1024}))
}

async function main(): Promise<void> {
  const {values} = parseArgs({options: {child: {type: 'string'}, files: {type: 'string'}, mb: {type: 'string', default: '33'}, runs: {type: 'string', default: '3'}}})
  if (values.child) return child(values.child as Variant, JSON.parse(values.files!))

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpo-bench-age-'))
  try {
    const {generateX25519Identity, identityToRecipient} = await import('age-encryption')
    const {encryptFile, parseRecipients} = await loadOurs()
    const secret = await generateX25519Identity()
    const files: Files = {dir, plain: path.join(dir, 'archive.tar.gz'), sealed: path.join(dir, 'archive.tar.gz.age'), keyFile: path.join(dir, 'key.txt'), recipient: await identityToRecipient(secret)}
    fs.writeFileSync(files.keyFile, `${secret}\n`, {mode: 0o600})
    // A compressed archive is incompressible: random bytes stand in for it.
    const bytes = Number(values.mb) * 1024 * 1024
    fs.writeFileSync(files.plain, crypto.randomBytes(bytes))
    await encryptFile(files.plain, files.sealed, parseRecipients([files.recipient]))
    const hasAge = spawnSync('age', ['--version']).error === undefined
    const runs = Math.max(1, Number(values.runs))
    console.log(`${values.mb} MB archive, median of ${runs} fresh processes (process start excluded), budget ${(BACKUP_SECONDS * 0.15).toFixed(3)} s\n`)
    console.log('variant         load s   work s   work CPU s    MB/s   peak RSS MB   load+work as % of a 0.96 s backup')
    for (const variant of VARIANTS) {
      if (variant.startsWith('age-') && !hasAge) continue
      const samples = Array.from({length: runs}, () => measure(variant, files)).sort((a, b) => a.seconds - b.seconds)
      const {cpuSeconds, loadSeconds, rssMb, seconds} = samples[Math.floor(samples.length / 2)]
      const rate = variant === 'ours-head' ? '-' : (bytes / 1024 / 1024 / seconds).toFixed(0)
      const share = (((loadSeconds + seconds) / BACKUP_SECONDS) * 100).toFixed(1)
      console.log(
        `${variant.padEnd(14)} ${loadSeconds.toFixed(3).padStart(7)} ${seconds.toFixed(3).padStart(8)} ${variant.startsWith('age-') ? '(child)'.padStart(12) : cpuSeconds.toFixed(3).padStart(12)} ${rate.padStart(7)} ${rssMb.toFixed(0).padStart(13)} ${share.padStart(20)}`,
      )
    }

    console.log('\n(age-* rows time the `age` binary from Node; their RSS is the Node parent, not age.)')
  } finally {
    fs.rmSync(dir, {recursive: true, force: true})
  }
}

await main()
