/**
 * Random corruption of valid archives made by the plugin: bit flips, truncations and zeroed runs.
 * Every mutant either fails with exit 3 (changing nothing) or restores bytes identical to the
 * original database; none crashes, hangs or leaves a file behind. Listing a directory full of
 * mutants lists every one of them and never aborts.
 */
import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'

import {useArchivedLibrary} from '../helpers/archived-libraries.js'
import {parseJson, runCli} from '../helpers/cli.js'
import {faultSeed, seededRandom} from '../helpers/faults.js'
import {listTemps, lockDirectory} from '../helpers/leftovers.js'
import {cloneLibrary, type DataDir, makeDataDir, sha256File, treeState} from '../helpers/libraries.js'
import {cleanupTempDirs, makeTempDir} from '../helpers/temp-dirs.js'

const MUTANTS = 210
const PARALLEL = 4
const HANG_MS = 30_000

interface Mutant {
  index: number
  description: string
  file: string
}

function mutate(original: Buffer, rand: () => number, index: number): {bytes: Buffer; description: string} {
  const bytes = Buffer.from(original)
  // Half the mutations aim at the first 2 KiB: the metadata member, the database's tar header and
  // the gzip headers, where parsing decisions are made; the rest fall anywhere.
  const offset = () => Math.floor(rand() * (rand() < 0.5 ? Math.min(2048, bytes.length) : bytes.length))
  switch (index % 3) {
    case 0: {
      const flips = 1 + Math.floor(rand() * 8)
      const at: string[] = []
      for (let i = 0; i < flips; i++) {
        const where = offset()
        const bit = Math.floor(rand() * 8)
        bytes[where] ^= 1 << bit
        at.push(`${where}.${bit}`)
      }

      return {bytes, description: `bit flips at ${at.join(', ')}`}
    }

    case 1: {
      const length = offset()
      return {bytes: bytes.subarray(0, length), description: `truncated to ${length} of ${bytes.length} bytes`}
    }

    default: {
      const start = offset()
      const length = 1 + Math.floor(rand() * (rand() < 0.5 ? 64 : 8192))
      bytes.fill(0, start, Math.min(start + length, bytes.length))
      return {bytes, description: `zeroed ${length} bytes at ${start}`}
    }
  }
}

async function inParallel<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]
      await work(item)
    }
  }

  await Promise.all(Array.from({length: limit}, () => worker()))
}

describe('faults: corrupted archives', function () {
  this.timeout(300_000)

  const source = useArchivedLibrary({files: 1500, walFiles: 25, seed: 31})
  let current: DataDir
  let mutants: Mutant[]
  let seed: number

  before(() => {
    current = makeDataDir({files: 400, walFiles: 10, seed: 32}) // what each restore would replace
    seed = faultSeed('corruption')
    const rand = seededRandom(seed)
    const original = fs.readFileSync(source.archive)
    const dir = makeTempDir('vpo-mutants')
    mutants = Array.from({length: MUTANTS}, (_, index) => {
      const {bytes, description} = mutate(original, rand, index)
      const file = path.join(dir, `vpo-library-2026-01-01T000000Z-${String(index).padStart(3, '0')}.tar.gz`)
      fs.writeFileSync(file, bytes)
      return {index, description, file}
    })
  })

  after(() => cleanupTempDirs())

  it(`each of ${MUTANTS} mutants fails with exit 3 and changes nothing, or restores the original bytes`, async () => {
    const failures: string[] = []
    const outcome = {rejected: 0, restoredIdentical: 0}
    const reasons = new Map<string, number>()

    await inParallel(mutants, PARALLEL, async (mutant) => {
      const where = `mutant ${mutant.index} (seed ${seed}; ${mutant.description})`
      const lib = cloneLibrary(current)
      const before = treeState(lib.dataDir)
      const started = Date.now()
      const run = await runCli(['library:restore', mutant.file, '--yes', '--json'], {env: lib.env, timeoutMs: HANG_MS})
      const took = Date.now() - started
      try {
        if (run.signal) {
          failures.push(`${where}: hung or crashed (killed by ${run.signal} after ${took} ms)`)
          return
        }

        if (/^\s+at\s/m.test(run.stdout + run.stderr)) failures.push(`${where}: printed a stack trace: ${run.stderr}`)
        const leftovers = [...listTemps(lib.dataDir), ...listTemps(lib.backupDir)]
        if (leftovers.length > 0) failures.push(`${where}: left temporary files ${leftovers.join(', ')}`)
        if (fs.existsSync(lockDirectory(lib.databasePath))) failures.push(`${where}: left the lock`)
        if (run.code === 3) {
          outcome.rejected++
          const error = (parseJson(run).error ?? {}) as {code?: string; message?: string}
          if (error.code !== 'INVALID_ARCHIVE' && error.code !== 'UNSUPPORTED_ARCHIVE')
            failures.push(`${where}: exit 3 with code ${error.code}`)
          const reason = String(error.message ?? '')
            .replace(/^.*?: /, '')
            .replace(/\(.*$/, '')
            .slice(0, 60)
          reasons.set(reason, (reasons.get(reason) ?? 0) + 1)
          const after = treeState(lib.dataDir)
          if (JSON.stringify(after) !== JSON.stringify(before))
            failures.push(`${where}: exit 3 but the data directory changed`)
        } else if (run.code === 0) {
          if (sha256File(lib.databasePath) === source.databaseSha256) outcome.restoredIdentical++
          else failures.push(`${where}: exit 0 but the restored library.db differs from the original`)
        } else {
          failures.push(`${where}: exit ${run.code}: ${run.stdout}${run.stderr}`)
        }
      } finally {
        fs.rmSync(path.dirname(lib.dataDir), {recursive: true, force: true})
      }
    })

    console.log(
      `      ${MUTANTS} mutants: ${outcome.rejected} rejected with exit 3, ${outcome.restoredIdentical} restored identical, ${failures.length} failures`,
    )
    for (const [reason, count] of [...reasons.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8))
      console.log(`        ${count} × ${reason}`)
    expect(failures, failures.slice(0, 20).join('\n')).to.deep.equal([])
  })

  it('library:backups lists every mutant and never aborts', async () => {
    const dir = path.dirname(mutants[0].file)
    const run = await runCli(['library:backups', '--json', '--path', dir], {timeoutMs: HANG_MS})
    expect(run.code, run.stderr).to.equal(0)
    const listing = parseJson(run) as {backups: Array<{filename: string; readable: boolean}>; total_count: number}
    expect(listing.total_count).to.equal(MUTANTS)
    expect(listing.backups.map((b) => b.filename).sort()).to.deep.equal(
      mutants.map((m) => path.basename(m.file)).sort(),
    )
    expect(listTemps(dir)).to.deep.equal([])
  })

  it('restores the unmutated archive (control)', async () => {
    const lib = cloneLibrary(current)
    const run = await runCli(['library:restore', source.archive, '--yes', '--json'], {env: lib.env})
    expect(run.code, run.stderr).to.equal(0)
    expect(sha256File(lib.databasePath)).to.equal(source.databaseSha256)
  })
})
