import {expect} from 'chai'

import {type Duration, formatDuration, parseDuration, subtractDuration} from '../../src/lib/duration.js'
import {LibraryBackupError} from '../../src/lib/errors.js'

const ZERO: Duration = {years: 0, months: 0, weeks: 0, days: 0, hours: 0}

function rejects(text: string, reason: RegExp): void {
  try {
    parseDuration(text)
  } catch (error) {
    expect(error).to.be.instanceOf(LibraryBackupError)
    expect((error as LibraryBackupError).exitCode).to.equal(2)
    const {message} = error as Error
    expect(message).to.include(`"${text}"`)
    expect(message).to.match(reason)
    expect(message).to.include('for example 36h, 7d, 2w, 6m (months), 1y or 1y6m')
    return
  }

  expect.fail(`"${text}" was accepted`)
}

describe('durations', () => {
  describe('parseDuration', () => {
    const accepted: Array<[string, Partial<Duration>]> = [
      ['36h', {hours: 36}],
      ['7d', {days: 7}],
      ['2w', {weeks: 2}],
      ['6m', {months: 6}],
      ['1y', {years: 1}],
      ['1y6m', {years: 1, months: 6}],
      ['2d12h', {days: 2, hours: 12}],
      ['1y2m3w4d5h', {years: 1, months: 2, weeks: 3, days: 4, hours: 5}],
      ['007d', {days: 7}],
    ]
    for (const [text, fields] of accepted) {
      it(`reads ${text}`, () => {
        expect(parseDuration(text)).to.deep.equal({...ZERO, ...fields})
      })
    }

    it('rejects junk with a message that quotes it and says why', () => {
      rejects('', /it is empty/)
      rejects('7', /: it has no unit/)
      rejects('d', /: it is not a number followed by a unit/)
      rejects('7x', /"x" is not a unit \(use y, m, w, d or h\)/)
      rejects('7D', /: it is not a number followed by a unit/)
      rejects('7 d', /: it is not a number followed by a unit/)
      rejects(' 7d', /: it is not a number followed by a unit/)
      rejects('-1d', /: it is not a number followed by a unit/)
      rejects('1.5d', /: it is not a number followed by a unit/)
      rejects('1d.5h', /: "\.5h" is not a number followed by a unit/)
      rejects('7d3', /"3" has no unit/)
      rejects('6m1y', /give each unit once, from years down to hours/)
      rejects('1d1d', /give each unit once/)
      rejects('0d', /it is zero/)
      rejects('0y0h', /it is zero/)
      rejects('1001y', /longer than 1000 years/)
      rejects('99999999999999999999h', /longer than 1000 years/)
    })
  })

  describe('formatDuration', () => {
    it('writes what parseDuration reads, largest unit first', () => {
      for (const text of ['36h', '7d', '2w', '6m', '1y', '1y6m', '1y2m3w4d5h']) {
        expect(formatDuration(parseDuration(text))).to.equal(text)
      }

      expect(formatDuration(parseDuration('007d'))).to.equal('7d')
    })
  })

  describe('subtractDuration (UTC calendar)', () => {
    const cases: Array<[string, string, string]> = [
      ['2026-03-10T12:00:00Z', '36h', '2026-03-09T00:00:00.000Z'],
      ['2026-03-10T12:00:00Z', '7d', '2026-03-03T12:00:00.000Z'],
      ['2026-03-10T12:00:00Z', '2w', '2026-02-24T12:00:00.000Z'],
      // Calendar months, not 30-day blocks.
      ['2026-08-15T06:30:00Z', '6m', '2026-02-15T06:30:00.000Z'],
      ['2026-03-01T00:00:00Z', '1m', '2026-02-01T00:00:00.000Z'],
      // A missing day clamps to the end of the shorter month.
      ['2026-08-31T00:00:00Z', '6m', '2026-02-28T00:00:00.000Z'],
      ['2024-03-31T00:00:00Z', '1m', '2024-02-29T00:00:00.000Z'],
      ['2024-02-29T10:00:00Z', '1y', '2023-02-28T10:00:00.000Z'],
      // Across a year boundary.
      ['2026-02-14T12:00:00Z', '3m', '2025-11-14T12:00:00.000Z'],
      ['2026-07-01T00:00:00Z', '1y6m', '2025-01-01T00:00:00.000Z'],
      // Months first, then days: one month before March 31 is Feb 28, minus one day is Feb 27.
      ['2026-03-31T00:00:00Z', '1m1d', '2026-02-27T00:00:00.000Z'],
      // Daylight saving does not exist in UTC: 2026-03-29 is a 24-hour day.
      ['2026-03-30T01:30:00Z', '1d', '2026-03-29T01:30:00.000Z'],
      ['2026-01-01T00:00:00Z', '1000y', '1026-01-01T00:00:00.000Z'],
    ]
    for (const [from, text, expected] of cases) {
      it(`${from} − ${text} = ${expected}`, () => {
        expect(subtractDuration(new Date(from), parseDuration(text)).toISOString()).to.equal(expected)
      })
    }

    it('does not modify its argument', () => {
      const now = new Date('2026-03-31T00:00:00Z')
      subtractDuration(now, parseDuration('1y1m'))
      expect(now.toISOString()).to.equal('2026-03-31T00:00:00.000Z')
    })
  })
})
