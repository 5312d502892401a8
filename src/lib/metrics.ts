import fs from 'node:fs'
import path from 'node:path'

import {LibraryBackupError} from './errors.js'
import {fsyncDirectory} from './fs/durable-files.js'
import {giveTo, ownerFor} from './fs/ownership.js'
import {removeTemp, tempPathIn} from './fs/temp-files.js'

/**
 * `--metrics-file`: Prometheus text format for node_exporter's textfile collector. One file may
 * serve several commands (each sample carries `command`): a run replaces its own samples and keeps
 * the others'. The file is replaced atomically, so the collector never reads half of it.
 */

export type MetricsCommand = 'backup' | 'prune' | 'verify'

const HELP: Record<string, string> = {
  vpo_backup_last_run_timestamp_seconds: 'When the command last finished, successful or not (Unix time).',
  vpo_backup_last_success_timestamp_seconds: 'When the command last finished with exit code 0 (Unix time).',
  vpo_backup_last_exit_code: 'Exit code of the last run (0 success, 11 library shrank, see the README).',
  vpo_backup_last_duration_seconds: 'How long the last run took.',
  vpo_backup_archive_size_bytes: 'Size of the archive the last backup wrote.',
  vpo_backup_database_size_bytes: 'Size of the library database in the last backup.',
  vpo_backup_library_files: 'Files in the library at the last backup.',
  vpo_backup_newest_verified_timestamp_seconds: 'Creation time of the newest backup that verified (Unix time).',
  vpo_backup_failed_archives: 'Backups that failed the last verify.',
}
const NAMES = Object.keys(HELP)
const SUCCESS = 'vpo_backup_last_success_timestamp_seconds'

export interface RunMetrics {
  command: MetricsCommand
  exitCode: number
  startedAt: Date
  finishedAt: Date
  /** The command's own gauges; those a failed run could not measure keep their previous values. */
  values: Record<string, number>
}

interface Sample {
  name: string
  command: string
  value: number
}

const SAMPLE = /^(vpo_backup_[a-z_]+)\{command="([a-z]+)"\}\s+(\S+)\s*$/

function parseSamples(text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    const match = SAMPLE.exec(line)
    const value = match ? Number(match[3]) : Number.NaN
    if (match && HELP[match[1]] && Number.isFinite(value)) samples.push({name: match[1], command: match[2], value})
  }

  return samples
}

function previousSamples(file: string): Sample[] {
  try {
    return parseSamples(fs.readFileSync(file, 'utf8'))
  } catch {
    return [] // missing or unreadable: this run starts the file afresh
  }
}

/** The file's new content: this run's samples, the other commands' as they were. */
export function renderMetrics(previous: Sample[], run: RunMetrics): string {
  const own = previous.filter((sample) => sample.command === run.command)
  const values: Record<string, number> = {}
  for (const sample of own) if (sample.name !== 'vpo_backup_last_exit_code') values[sample.name] = sample.value
  Object.assign(values, run.values, {
    vpo_backup_last_run_timestamp_seconds: run.finishedAt.getTime() / 1000,
    vpo_backup_last_exit_code: run.exitCode,
    vpo_backup_last_duration_seconds: (run.finishedAt.getTime() - run.startedAt.getTime()) / 1000,
  })
  if (run.exitCode === 0) values[SUCCESS] = run.finishedAt.getTime() / 1000
  const samples = [
    ...previous.filter((sample) => sample.command !== run.command),
    ...Object.entries(values).map(([name, value]) => ({name, command: run.command, value})),
  ]
  const lines: string[] = []
  for (const name of NAMES) {
    const family = samples.filter((sample) => sample.name === name).sort((a, b) => a.command.localeCompare(b.command))
    if (family.length === 0) continue
    lines.push(`# HELP ${name} ${HELP[name]}`, `# TYPE ${name} gauge`)
    for (const sample of family) lines.push(`${name}{command="${sample.command}"} ${sample.value}`)
  }

  return `${lines.join('\n')}\n`
}

/** Replaces the metrics file atomically (a temporary file in the same directory, then rename). */
export function writeMetricsFile(file: string, run: RunMetrics): void {
  const dir = path.dirname(path.resolve(file))
  const temp = tempPathIn(dir, 'prom-tmp')
  try {
    const fd = fs.openSync(temp, 'wx', 0o644)
    try {
      fs.writeFileSync(fd, renderMetrics(previousSamples(file), run))
      fs.fsyncSync(fd)
    } finally {
      fs.closeSync(fd)
    }

    giveTo(temp, ownerFor(dir))
    fs.renameSync(temp, file)
    fsyncDirectory(dir)
  } finally {
    removeTemp(temp)
  }
}

/** Said before the run does anything: a metrics file that cannot be written would hide every failure. */
export function assertMetricsWritable(file: string): void {
  const resolved = path.resolve(file)
  const dir = path.dirname(resolved)
  const stats = fs.statSync(resolved, {throwIfNoEntry: false})
  let problem: string | undefined
  if (stats?.isDirectory()) problem = `${resolved} is a directory`
  else if (stats && !looksLikeMetrics(resolved))
    throw new LibraryBackupError(
      'OUTPUT_EXISTS',
      `The metrics file ${file} already exists and is not a metrics file this plugin wrote, so it was left alone and nothing was done`,
      {
        hint: 'Pass a --metrics-file of its own (for example vpo-backup.prom in the textfile directory), or remove that file.',
      },
    )
  else if (fs.statSync(dir, {throwIfNoEntry: false})?.isDirectory()) {
    try {
      fs.accessSync(dir, fs.constants.W_OK)
    } catch {
      problem = `the directory ${dir} is not writable by this user`
    }
  } else {
    problem = `the directory ${dir} does not exist`
  }

  if (problem)
    throw new LibraryBackupError('IO_ERROR', `The metrics file ${file} cannot be written: ${problem}`, {
      hint: "Pass a --metrics-file in an existing directory you can write to (node_exporter's textfile directory).",
    })
}

/**
 * The file is replaced whole by rename, so a path that names anything else (the library itself,
 * an archive, or /etc/passwd in a sudo run) must never be taken: only an empty file or text that
 * carries this plugin's samples is ours to replace.
 */
function looksLikeMetrics(file: string): boolean {
  let head: Buffer
  try {
    const fd = fs.openSync(file, 'r')
    try {
      head = Buffer.alloc(4096)
      head = head.subarray(0, fs.readSync(fd, head, 0, head.length, 0))
    } finally {
      fs.closeSync(fd)
    }
  } catch {
    return true // unreadable: the write that follows says what is wrong
  }

  return head.length === 0 || (!head.includes(0) && head.toString('utf8').includes('vpo_backup_'))
}
