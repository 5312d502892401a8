/**
 * What encryption adds to the archive half of a backup and a restore, on the ~100 MB library of
 * `npm run bench` (a report, not a test): `writeArchive` alone against `writeArchive` then
 * `encryptFile`, and `extractDatabase` alone against `decryptFile` then `extractDatabase`. Each
 * sample is a fresh process; module loading is counted, process start is not. The denominators
 * leave out process start, the snapshot and the swap, so the percentages are upper bounds.
 *
 *   npx tsx scripts/bench-encrypted-archive.ts [--runs 5]
 */
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {parseArgs} from 'node:util'

import {createLibrary} from '../test/fixtures/library-generator.js'

const SELF = fileURLToPath(import.meta.url)
const CACHE = path.join(path.dirname(SELF), '..', '.bench', 'encryption-library-88000')
const VARIANTS = ['backup-plain', 'backup-age', 'restore-plain', 'restore-age'] as const
type Variant = (typeof VARIANTS)[number]

interface Paths {
  dir: string
  database: string
  plainArchive: string
  ageArchive: string
  keyFile: string
  recipient: string
}

interface Sample {
  cpuSeconds: number
  rssMb: number
  seconds: number
}

async function child(variant: Variant, paths: Paths): Promise<void> {
  const start = process.hrtime.bigint()
  const {extractDatabase, writeArchive} = await import('../src/lib/archive.js')
  const age = variant.endsWith('-age') ? await import('../src/lib/encryption/index.js') : undefined
  const out = path.join(paths.dir, `out-${process.pid}`)
  const staged = `${out}.tar.gz`
  if (variant.startsWith('backup-')) {
    await writeArchive({
      archivePath: staged,
      databasePath: paths.database,
      describe: {vpo_version: 'bench', schema_version: 27, created_at: '2026-01-01T00:00:00Z', file_count: 0, total_library_size_bytes: 0},
    })
    if (age) {
      await age.encryptFile(staged, `${staged}.age`, age.parseRecipients([paths.recipient]))
      fs.rmSync(staged)
    }
  } else if (age) {
    await age.decryptFile(paths.ageArchive, staged, await age.loadIdentities([paths.keyFile]))
    await extractDatabase(staged, `${out}.db`)
  } else {
    await extractDatabase(paths.plainArchive, `${out}.db`)
  }

  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  // All threads of the process (the threadpool compresses): steadier than wall time when shared.
  const {system, user} = process.cpuUsage()
  for (const file of [staged, `${staged}.age`, `${out}.db`]) fs.rmSync(file, {force: true})
  console.log(JSON.stringify({seconds, cpuSeconds: (user + system) / 1e6, rssMb: process.resourceUsage().maxRSS / 1024}))
}

function measure(variant: Variant, paths: Paths): Sample {
  const result = spawnSync(process.execPath, ['--import', 'tsx', SELF, '--child', variant, '--paths', JSON.stringify(paths)], {encoding: 'utf8'})
  if (result.status !== 0) throw new Error(`${variant} failed: ${result.stderr}`)
  return JSON.parse(result.stdout.trim().split('\n').at(-1)!)
}

async function main(): Promise<void> {
  const {values} = parseArgs({options: {child: {type: 'string'}, paths: {type: 'string'}, runs: {type: 'string', default: '5'}}})
  if (values.child) return child(values.child as Variant, JSON.parse(values.paths!))

  if (!fs.existsSync(path.join(CACHE, 'library.db'))) {
    console.log('Building the 88,000-file library once (.bench/)…')
    fs.mkdirSync(CACHE, {recursive: true})
    createLibrary(path.join(CACHE, 'library.db'), {files: 88_000, walFiles: 0, seed: 45})
  }

  const {generateX25519Identity, identityToRecipient} = await import('age-encryption')
  const {encryptFile, parseRecipients} = await import('../src/lib/encryption/index.js')
  const {writeArchive} = await import('../src/lib/archive.js')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpo-bench-age-archive-'))
  try {
    const secret = await generateX25519Identity()
    const paths: Paths = {
      dir,
      database: path.join(CACHE, 'library.db'),
      plainArchive: path.join(dir, 'backup.tar.gz'),
      ageArchive: path.join(dir, 'backup.tar.gz.age'),
      keyFile: path.join(dir, 'key.txt'),
      recipient: await identityToRecipient(secret),
    }
    fs.writeFileSync(paths.keyFile, `${secret}\n`, {mode: 0o600})
    await writeArchive({
      archivePath: paths.plainArchive,
      databasePath: paths.database,
      describe: {vpo_version: 'bench', schema_version: 27, created_at: '2026-01-01T00:00:00Z', file_count: 0, total_library_size_bytes: 0},
    })
    await encryptFile(paths.plainArchive, paths.ageArchive, parseRecipients([paths.recipient]))
    const mb = (file: string): string => (fs.statSync(file).size / 1024 / 1024).toFixed(1)
    console.log(`library.db ${mb(paths.database)} MB, archive ${mb(paths.plainArchive)} MB; median of ${values.runs} fresh processes, load average ${os.loadavg()[0].toFixed(1)}\n`)
    // Round robin, so a burst of load from other users lands on every variant alike.
    const samples = new Map<Variant, Array<Sample>>(VARIANTS.map((variant) => [variant, []]))
    for (let run = 0; run < Math.max(1, Number(values.runs)); run++) {
      for (const variant of VARIANTS) samples.get(variant)!.push(measure(variant, paths))
    }

    const results = new Map<Variant, Sample>()
    for (const [variant, list] of samples) results.set(variant, list.sort((x, y) => x.seconds - y.seconds)[Math.floor(list.length / 2)])

    console.log('variant          wall s   added    CPU s   added   peak RSS MB')
    const percent = (value: number, base: number): string => `${(((value - base) / base) * 100).toFixed(1)}%`
    for (const variant of VARIANTS) {
      const {cpuSeconds, rssMb, seconds} = results.get(variant)!
      const base = results.get(variant.replace('-age', '-plain') as Variant)!
      const encrypted = variant.endsWith('-age')
      const wallAdded = encrypted ? percent(seconds, base.seconds) : ''
      const cpuAdded = encrypted ? percent(cpuSeconds, base.cpuSeconds) : ''
      console.log(
        `${variant.padEnd(15)} ${seconds.toFixed(3).padStart(7)} ${wallAdded.padStart(7)} ${cpuSeconds.toFixed(3).padStart(8)} ${cpuAdded.padStart(7)} ${rssMb.toFixed(0).padStart(13)}`,
      )
    }
  } finally {
    fs.rmSync(dir, {recursive: true, force: true})
  }
}

await main()
