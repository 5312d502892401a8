/**
 * Reads the copy-paste automation examples (systemd units, crontab) out of the README, so tests
 * check exactly what users copy. Snippets are found by an HTML comment right before their fence:
 * `<!-- unit: NAME -->` for a unit file, `<!-- crontab -->` for the crontab.
 */
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

/** The document holding the snippets: the "Automatic backups" section of the README. */
export const AUTOMATION_README = path.join(ROOT, 'README.md')

export interface UnitFile {
  name: string
  text: string
}

export interface AutomationSnippets {
  units: UnitFile[]
  crontab: string
}

const SNIPPET = /<!--\s*(unit:\s*(\S+)|crontab)\s*-->\s*\n```[^\n]*\n([\s\S]*?)\n```/g

export function readAutomationSnippets(readmePath: string = AUTOMATION_README): AutomationSnippets {
  const markdown = fs.readFileSync(readmePath, 'utf8')
  const units: UnitFile[] = []
  const crontabs: string[] = []
  for (const [, marker, unitName, body] of markdown.matchAll(SNIPPET)) {
    if (marker === 'crontab') crontabs.push(`${body}\n`)
    else units.push({name: unitName, text: `${body}\n`})
  }

  if (crontabs.length !== 1) throw new Error(`${readmePath}: expected one crontab snippet, found ${crontabs.length}`)
  return {units, crontab: crontabs[0]}
}

export interface UnitSection {
  name: string
  entries: Array<[key: string, value: string]>
}

/** A strict reading of the unit-file syntax: anything that is not a section, a comment or Key=Value throws. */
export function parseUnit(text: string): UnitSection[] {
  const sections: UnitSection[] = []
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const header = /^\[([A-Za-z]+)\]$/.exec(line)
    if (header) {
      sections.push({name: header[1], entries: []})
      continue
    }

    const entry = /^([A-Za-z][A-Za-z0-9]*)=(.*)$/.exec(line)
    if (!entry || sections.length === 0 || line.endsWith('\\'))
      throw new Error(`line ${index + 1} is not a section or Key=Value: ${raw}`)
    sections.at(-1)!.entries.push([entry[1], entry[2].trim()])
  }

  return sections
}

export function unitValues(sections: UnitSection[], section: string, key: string): string[] {
  return sections
    .filter((s) => s.name === section)
    .flatMap((s) => s.entries.filter(([k]) => k === key).map(([, v]) => v))
}

const EXEC_KEYS = new Set([
  'ExecStart',
  'ExecStartPost',
  'ExecStartPre',
  'ExecStop',
  'ExecStopPost',
  'ExecReload',
  'ExecCondition',
])

/** The command lines of a unit, in file order, as argv (systemd's prefixes `-@:+!` removed). */
export function unitCommands(text: string): string[][] {
  return parseUnit(text)
    .flatMap((section) => section.entries)
    .filter(([key]) => EXEC_KEYS.has(key))
    .map(([, value]) => splitWords(value.replace(/^[-@:+!]+/, '')))
}

/** Splits systemd/sh words: quotes group, a backslash escapes; anything needing expansion throws. */
function splitWords(text: string): string[] {
  const tokens = tokenize(text)
  if (tokens.some((token) => token.operator)) throw new Error(`not a single command: ${text}`)
  return tokens.map((token) => token.word)
}

interface Token {
  word: string
  operator: boolean
}

const OPERATORS = ['&&', '||', ';', '|', '&'] as const

/**
 * A tokenizer for the plain sh a crontab line uses: words, quotes, the operators `; && || | &`
 * and redirections (`>/dev/null`, `2>&1`, `>&2`, `> file`), which it drops with their target.
 * `$`, backquotes and parentheses throw: a command that expands cannot be extracted literally.
 */
function tokenize(text: string): Token[] {
  const tokens: Token[] = []
  let index = 0
  const skipBlanks = (): void => {
    while (index < text.length && /\s/.test(text[index])) index++
  }

  const readWord = (): string => {
    let word = ''
    while (index < text.length && !/[\s;&|<>]/.test(text[index])) {
      const char = text[index]
      if (/[$`()]/.test(char)) throw new Error(`cannot extract a command that expands (${char}): ${text}`)
      switch (char) {
        case "'": {
          const end = text.indexOf("'", index + 1)
          if (end === -1) throw new Error(`unterminated quote: ${text}`)
          word += text.slice(index + 1, end)
          index = end + 1
          break
        }

        case '"': {
          index++
          while (text[index] !== '"') {
            if (index >= text.length) throw new Error(`unterminated quote: ${text}`)
            if (/[$`]/.test(text[index])) throw new Error(`cannot extract a command that expands: ${text}`)
            if (text[index] === '\\' && /["\\$`]/.test(text[index + 1] ?? '')) index++
            word += text[index++]
          }

          index++
          break
        }

        case '\\': {
          word += text[index + 1] ?? ''
          index += 2
          break
        }

        default: {
          word += char
          index++
        }
      }
    }

    return word
  }

  skipBlanks()
  while (index < text.length) {
    const operator = OPERATORS.find((op) => text.startsWith(op, index))
    const redirection = /^\d*(>>|>&|<&|>|<)/.exec(text.slice(index))
    if (redirection) {
      index += redirection[0].length
      skipBlanks()
      readWord()
    } else if (operator) {
      tokens.push({word: operator, operator: true})
      index += operator.length
    } else {
      tokens.push({word: readWord(), operator: false})
    }

    skipBlanks()
  }

  return tokens
}

/** The simple commands of an sh command line, each as argv, split at `; && || | &`. */
export function shellCommands(command: string): string[][] {
  const commands: string[][] = [[]]
  for (const token of tokenize(command)) {
    if (token.operator) commands.push([])
    else commands.at(-1)!.push(token.word)
  }

  return commands.filter((argv) => argv.length > 0)
}

export interface CrontabEntry {
  schedule: [string, string, string, string, string]
  command: string
}

export interface Crontab {
  environment: Record<string, string>
  entries: CrontabEntry[]
}

const CRON_FIELDS = [
  ['minute', 0, 59],
  ['hour', 0, 23],
  ['day of month', 1, 31],
  ['month', 1, 12],
  ['day of week', 0, 7],
] as const

function checkCronField(value: string, [label, min, max]: (typeof CRON_FIELDS)[number]): void {
  for (const item of value.split(',')) {
    const match = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(item)
    const numbers = match ? [match[2], match[3]].filter((n) => n !== undefined).map(Number) : []
    const step = match?.[4] === undefined ? 1 : Number(match[4])
    if (
      !match ||
      numbers.some((n) => n < min || n > max) ||
      (numbers.length === 2 && numbers[0] > numbers[1]) ||
      step < 1
    ) {
      throw new Error(`crontab ${label} field "${value}" is not valid (${min}-${max})`)
    }
  }
}

/** A crontab as cron reads it: NAME=value lines, comments, and `m h dom mon dow command` entries. */
export function parseCrontab(text: string): Crontab {
  const environment: Record<string, string> = {}
  const entries: CrontabEntry[] = []
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const assignment = /^([A-Za-z_]\w*)\s*=\s*(.*)$/.exec(line)
    if (assignment) {
      environment[assignment[1]] = assignment[2]
      continue
    }

    const fields = line.split(/\s+/)
    if (fields.length < 6) throw new Error(`crontab line needs 5 time fields and a command: ${raw}`)
    const schedule = fields.slice(0, 5) as CrontabEntry['schedule']
    for (const [index, field] of schedule.entries()) checkCronField(field, CRON_FIELDS[index])
    const command = line.replace(/^(\S+\s+){5}/, '')
    // cron turns an unescaped % into a newline: the command would not be what the README shows.
    if (/(^|[^\\])%/.test(command)) throw new Error(`crontab command contains an unescaped %: ${command}`)
    entries.push({schedule, command})
  }

  return {environment, entries}
}

function isVpo(argv: string[]): boolean {
  return path.basename(argv[0]) === 'vpo'
}

/**
 * Every `vpo …` command the README's units and crontab run, as argv with the program written
 * `vpo` (the units use an absolute path), without duplicates, in the order they appear. A later
 * test runs these against the real CLI.
 */
export function automationCommands(readmePath: string = AUTOMATION_README): string[][] {
  const {units, crontab} = readAutomationSnippets(readmePath)
  const all = [
    ...units.flatMap((unit) => unitCommands(unit.text)),
    ...parseCrontab(crontab).entries.flatMap((entry) => shellCommands(entry.command)),
  ]
  const seen = new Set<string>()
  const commands: string[][] = []
  for (const argv of all.filter((command) => isVpo(command))) {
    const normalized = ['vpo', ...argv.slice(1)]
    const key = JSON.stringify(normalized)
    if (seen.has(key)) continue
    seen.add(key)
    commands.push(normalized)
  }

  return commands
}
