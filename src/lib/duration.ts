import {LibraryBackupError} from './errors.js'

/**
 * A span of calendar time as the user wrote it (`1y6m`, `36h`). Kept in calendar units, not
 * milliseconds, because "6 months before March 31" depends on the months in between.
 */
export interface Duration {
  years: number
  months: number
  weeks: number
  days: number
  hours: number
}

const UNITS = [
  ['y', 'years'],
  ['m', 'months'],
  ['w', 'weeks'],
  ['d', 'days'],
  ['h', 'hours'],
] as const

type Unit = (typeof UNITS)[number][0]

// Minutes are left out on purpose: `m` is months (restic's convention), and a retention or
// staleness window shorter than an hour is not something a nightly backup can honour.
const HOURS_PER: Record<Unit, number> = {y: 8766, m: 730.5, w: 168, d: 24, h: 1}

// Far past any sensible window, yet small enough that the subtracted date stays valid.
const MAX_HOURS = 1000 * HOURS_PER.y

const EXAMPLES = '36h, 7d, 2w, 6m (months), 1y or 1y6m'

function invalid(text: string, why: string): LibraryBackupError {
  return new LibraryBackupError(
    'USAGE_ERROR',
    `Invalid duration "${text}": ${why}; write a number and a unit, for example ${EXAMPLES}.`,
  )
}

/**
 * Parses `36h`, `7d`, `2w`, `6m`, `1y` and combinations from the largest unit down (`1y6m`,
 * `2d12h`). Junk throws a usage error (exit 2) that quotes the input.
 */
export function parseDuration(text: string): Duration {
  const duration: Duration = {years: 0, months: 0, weeks: 0, days: 0, hours: 0}
  if (text.length === 0) throw invalid(text, 'it is empty')
  const part = /(\d+)([a-z])/y
  let lastUnitIndex = -1
  let hours = 0
  while (part.lastIndex < text.length) {
    const start = part.lastIndex
    const match = part.exec(text)
    if (!match) {
      const rest = text.slice(start)
      const what = start === 0 ? 'it' : `"${rest}"`
      throw invalid(text, /^\d+$/.test(rest) ? `${what} has no unit` : `${what} is not a number followed by a unit`)
    }

    const [, digits, unit] = match
    const unitIndex = UNITS.findIndex(([letter]) => letter === unit)
    if (unitIndex === -1) throw invalid(text, `"${unit}" is not a unit (use y, m, w, d or h)`)
    if (unitIndex <= lastUnitIndex) throw invalid(text, 'give each unit once, from years down to hours')
    lastUnitIndex = unitIndex
    const [letter, field] = UNITS[unitIndex]
    const amount = Number(digits)
    hours += amount * HOURS_PER[letter]
    if (hours > MAX_HOURS) throw invalid(text, 'it is longer than 1000 years')
    duration[field] = amount
  }

  if (hours === 0) throw invalid(text, 'it is zero')
  return duration
}

/** Renders a duration the way it is written on the command line: `1y6m`, `36h`. */
export function formatDuration(duration: Duration): string {
  const text = UNITS.map(([letter, field]) => (duration[field] > 0 ? `${duration[field]}${letter}` : '')).join('')
  return text === '' ? '0h' : text
}

function daysInMonth(year: number, monthIndex: number): number {
  return new Date(Date.UTC(year, monthIndex + 1, 0)).getUTCDate()
}

/**
 * `date` minus `duration`, in UTC calendar units: months and years move the calendar month
 * (`6m` before 2026-08-31 is 2026-02-28), weeks and days are 24-hour days (UTC has no DST).
 *
 * A day past the end of the target month is clamped to its last day. Go's AddDate, which restic
 * uses, rolls over instead (March 31 minus 1m = March 3); clamping gives the longer window, so a
 * `--keep-within` keeps more and a `--max-age` check is never stricter than the user asked.
 */
export function subtractDuration(date: Date, duration: Duration): Date {
  const totalMonths = date.getUTCFullYear() * 12 + date.getUTCMonth() - (duration.years * 12 + duration.months)
  const year = Math.floor(totalMonths / 12)
  const monthIndex = totalMonths - year * 12
  const day = Math.min(date.getUTCDate(), daysInMonth(year, monthIndex))
  const shifted = new Date(date.getTime())
  shifted.setUTCFullYear(year, monthIndex, day)
  const hours = (duration.weeks * 7 + duration.days) * 24 + duration.hours
  return new Date(shifted.getTime() - hours * 3_600_000)
}
