/**
 * A guided tour for someone with no VPO library: makes a realistic sample library (1,500 files,
 * the last 25 still in the write-ahead log, as when the daemon runs) in a fresh temporary data
 * directory, then runs the real commands against it and shows exactly what they print.
 *
 *   npm run demo [-- --clean]
 *
 * The temporary directory is left in place so you can look around, unless --clean is given.
 */
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {parseArgs} from 'node:util'

import {createLibrary} from '../test/fixtures/library-generator.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const RUN_JS = path.join(ROOT, 'bin', 'run.js')

/** Quotes an argument the way a user would have to type it in a POSIX shell. */
function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", String.raw`'\''`)}'`
}

/** Runs `vpo <args>` as a user would, its output going straight to this terminal. */
function vpo(dataDir: string, args: string[]): number {
  console.log(`$ vpo ${args.map((a) => shellQuote(a)).join(' ')}`)
  const result = spawnSync(process.execPath, [RUN_JS, ...args], {
    env: {...process.env, VPO_DATA_DIR: dataDir},
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  if (result.error) throw result.error
  const code = result.status ?? 1
  if (code !== 0) console.log(`(exit code ${code}${result.signal ? `, ${result.signal}` : ''})`)
  console.log('')
  return code
}

function main(): number {
  const {values} = parseArgs({options: {clean: {type: 'boolean', default: false}}, strict: true})
  if (!fs.existsSync(path.join(ROOT, 'dist', 'commands'))) {
    console.error('demo: dist/ is missing: build the plugin first (npm run build)')
    return 1
  }

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpo-demo-'))
  const db = path.join(dataDir, 'library.db')
  const summary = createLibrary(db, {files: 1500, walFiles: 25, seed: 45})
  const onDisk = fs.statSync(db).size + fs.statSync(`${db}-wal`).size
  console.log(
    `Made a sample VPO library of ${summary.fileCount.toLocaleString('en-US')} files (${summary.walFileCount} of them still in the WAL, as when the daemon is running):`,
  )
  console.log(`  ${db} (${(onDisk / 1e6).toFixed(1)} MB with its WAL)`)
  console.log('')
  console.log('Every command below runs with this data directory, as if you had typed:')
  console.log(`$ export VPO_DATA_DIR=${shellQuote(dataDir)}`)
  console.log(`(\`vpo\` here is this checkout's ${path.relative(process.cwd(), RUN_JS) || RUN_JS}.)`)
  console.log('')

  const failures: string[] = []
  const step = (args: string[]) => {
    if (vpo(dataDir, args) !== 0) failures.push(`vpo ${args.join(' ')}`)
  }

  step(['library:backup'])
  const backupDir = path.join(dataDir, 'backups')
  const made = fs.existsSync(backupDir)
    ? fs.readdirSync(backupDir).filter((name) => /^vpo-library-.*\.tar\.gz$/.test(name))
    : []
  if (made.length === 0) {
    console.error('demo: library:backup did not leave an archive; stopping here.')
    return 1
  }

  const backup = path.join(backupDir, made.sort().at(-1)!)
  step(['library:backup', '--dry-run'])
  step(['library:backups'])
  step(['library:restore', backup, '--dry-run'])
  step(['library:restore', backup, '--yes'])
  step(['library:backups'])

  if (values.clean) {
    fs.rmSync(dataDir, {recursive: true, force: true})
    console.log(`Removed ${dataDir}.`)
  } else {
    console.log(`The sample data directory is still there for you to look at: ${dataDir}`)
    console.log(`Try more commands with:  VPO_DATA_DIR=${shellQuote(dataDir)} ./bin/run.js library:backups`)
    console.log(`Remove it when done with:  rm -rf ${shellQuote(dataDir)}`)
    console.log('(`npm run demo -- --clean` removes its directory by itself at the end.)')
  }

  if (failures.length > 0) {
    console.error(`demo: ${failures.length} command(s) failed: ${failures.join('; ')}`)
    return 1
  }

  return 0
}

process.exitCode = main()
