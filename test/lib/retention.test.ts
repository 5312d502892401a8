import {expect} from 'chai'

import {parseDuration} from '../../src/lib/duration.js'
import {LibraryBackupError} from '../../src/lib/errors.js'
import {compareNewestFirst} from '../../src/lib/repository/backup-names.js'
import {
  backupKindOf,
  type CandidateKind,
  describePolicy,
  isoWeek,
  planRetention,
  type RetentionCandidate,
  type RetentionDecision,
  type RetentionPolicy,
} from '../../src/lib/repository/retention.js'

/** A backup as the listing would hand it over: the name carries the same second as `createdAt`. */
function backup(
  iso: string,
  options: {counter?: number; kind?: CandidateKind; readable?: boolean; name?: string} = {},
): RetentionCandidate {
  const createdAt = new Date(iso)
  const stamp = iso.replaceAll(':', '').replace(/\.\d+/, '')
  const infix = options.kind === 'pre-restore' ? '-pre-restore' : options.kind === 'damaged' ? '-damaged' : ''
  const counter = options.counter && options.counter > 1 ? `-${options.counter}` : ''
  return {
    name: options.name ?? `vpo-library-${stamp}${infix}${counter}.tar.gz`,
    createdAt,
    kind: options.kind ?? 'regular',
    readable: options.readable ?? true,
  }
}

/** name → reasons of every kept backup; removed ones are listed separately. */
function summary(decisions: RetentionDecision[]): {kept: Record<string, string[]>; removed: string[]} {
  const kept: Record<string, string[]> = {}
  const removed: string[] = []
  for (const {backup: b, keep, reasons} of decisions) {
    if (keep) kept[b.name] = reasons
    else removed.push(b.name)
  }

  return {kept, removed}
}

/** The summary of a plan at `now` for regular, readable backups made at `times`. */
function planned(policy: RetentionPolicy, now: string, times: string[]): ReturnType<typeof summary> {
  return summary(
    planRetention(
      times.map((time) => backup(time)),
      policy,
      new Date(now),
    ),
  )
}

/** Kept backups by their UTC day, for the calendar tests where each day has one backup. */
function keptByDay(decisions: RetentionDecision[]): Record<string, string[]> {
  return Object.fromEntries(
    decisions.filter((d) => d.keep).map((d) => [d.backup.createdAt.toISOString().slice(0, 10), d.reasons]),
  )
}

function expectUsageError(run: () => unknown, pattern: RegExp): void {
  try {
    run()
  } catch (error) {
    expect(error).to.be.instanceOf(LibraryBackupError)
    expect((error as LibraryBackupError).code).to.equal('USAGE_ERROR')
    expect((error as LibraryBackupError).exitCode).to.equal(2)
    expect((error as Error).message).to.match(pattern)
    return
  }

  expect.fail('expected a usage error')
}

describe('retention policy (pure)', () => {
  describe('a year of daily backups, keep 7 daily / 4 weekly / 6 monthly / 1 yearly', () => {
    // One backup at 03:00Z every day from 2025-02-15 to 2026-02-14 (365 backups). Calendar facts
    // used below: 2026-02-14 is a Saturday; ISO 2026-W07 = Feb 9–15, W06 = Feb 2–8, W05 = Jan 26–Feb 1,
    // W04 = Jan 19–25.
    const backups: RetentionCandidate[] = []
    for (let day = Date.UTC(2025, 1, 15, 3); day <= Date.UTC(2026, 1, 14, 3); day += 86_400_000) {
      backups.push(backup(new Date(day).toISOString().replace('.000', '')))
    }

    const now = new Date('2026-02-14T12:00:00Z')
    const decisions = planRetention(backups, {daily: 7, weekly: 4, monthly: 6, yearly: 1}, now)

    it('has 365 backups to decide on', () => {
      expect(backups).to.have.length(365)
      expect(decisions).to.have.length(365)
    })

    it('keeps exactly the expected 14 backups, with every rule that keeps each', () => {
      expect(keptByDay(decisions)).to.deep.equal({
        '2026-02-14': ['daily 2026-02-14', 'weekly 2026-W07', 'monthly 2026-02', 'yearly 2026', 'newest readable'],
        '2026-02-13': ['daily 2026-02-13'],
        '2026-02-12': ['daily 2026-02-12'],
        '2026-02-11': ['daily 2026-02-11'],
        '2026-02-10': ['daily 2026-02-10'],
        '2026-02-09': ['daily 2026-02-09'],
        '2026-02-08': ['daily 2026-02-08', 'weekly 2026-W06'],
        '2026-02-01': ['weekly 2026-W05'],
        '2026-01-31': ['monthly 2026-01'],
        '2026-01-25': ['weekly 2026-W04'],
        '2025-12-31': ['monthly 2025-12'],
        '2025-11-30': ['monthly 2025-11'],
        '2025-10-31': ['monthly 2025-10'],
        '2025-09-30': ['monthly 2025-09'],
      })
    })

    it('removes the other 351 and gives no reason for them', () => {
      const removed = decisions.filter((d) => !d.keep)
      expect(removed).to.have.length(351)
      expect(removed.every((d) => d.reasons.length === 0)).to.equal(true)
    })

    it('returns the decisions newest first', () => {
      expect(decisions[0].backup.name).to.equal('vpo-library-2026-02-14T030000Z.tar.gz')
      expect(decisions.at(-1)?.backup.name).to.equal('vpo-library-2025-02-15T030000Z.tar.gz')
    })

    it('does not depend on the order of the input', () => {
      const shuffled = [...backups].reverse()
      shuffled.push(...shuffled.splice(0, 100))
      expect(planRetention(shuffled, {daily: 7, weekly: 4, monthly: 6, yearly: 1}, now)).to.deep.equal(decisions)
    })
  })

  it('counts only days that have a backup (gaps)', () => {
    const times = ['2026-01-01T10:00:00Z', '2026-01-02T10:00:00Z', '2026-01-05T10:00:00Z', '2026-01-09T10:00:00Z']
    expect(planned({daily: 3}, '2026-01-20T00:00:00Z', times)).to.deep.equal({
      kept: {
        'vpo-library-2026-01-09T100000Z.tar.gz': ['daily 2026-01-09', 'newest readable'],
        'vpo-library-2026-01-05T100000Z.tar.gz': ['daily 2026-01-05'],
        'vpo-library-2026-01-02T100000Z.tar.gz': ['daily 2026-01-02'],
      },
      removed: ['vpo-library-2026-01-01T100000Z.tar.gz'],
    })
  })

  it('keeps the newest backup of a day with several', () => {
    const firstDay = ['2026-03-01T01:00:00Z', '2026-03-01T13:00:00Z', '2026-03-01T23:59:59Z']
    const secondDay = ['2026-03-02T00:00:00Z', '2026-03-02T08:00:00Z', '2026-03-02T20:00:00Z']
    expect(planned({daily: 2}, '2026-03-03T00:00:00Z', [...firstDay, ...secondDay])).to.deep.equal({
      kept: {
        'vpo-library-2026-03-02T200000Z.tar.gz': ['daily 2026-03-02', 'newest readable'],
        'vpo-library-2026-03-01T235959Z.tar.gz': ['daily 2026-03-01'],
      },
      removed: [
        'vpo-library-2026-03-02T080000Z.tar.gz',
        'vpo-library-2026-03-02T000000Z.tar.gz',
        'vpo-library-2026-03-01T130000Z.tar.gz',
        'vpo-library-2026-03-01T010000Z.tar.gz',
      ],
    })
  })

  describe('same-second backups (issue 10, item 5)', () => {
    const second = '2026-02-05T14:30:22Z'

    it('treats …Z-2 as newer than …Z and -3 as newer than -2', () => {
      const backups = [backup(second), backup(second, {counter: 3}), backup(second, {counter: 2})]
      expect(summary(planRetention(backups, {last: 1}, new Date(second)))).to.deep.equal({
        kept: {'vpo-library-2026-02-05T143022Z-3.tar.gz': ['last', 'newest readable']},
        removed: ['vpo-library-2026-02-05T143022Z-2.tar.gz', 'vpo-library-2026-02-05T143022Z.tar.gz'],
      })
    })

    it('compares the counter as a number: -10 is newer than -9', () => {
      const backups = [backup(second, {counter: 9}), backup(second, {counter: 10})]
      expect(summary(planRetention(backups, {daily: 1}, new Date(second))).kept).to.deep.equal({
        'vpo-library-2026-02-05T143022Z-10.tar.gz': ['daily 2026-02-05', 'newest readable'],
      })
    })

    it('gives one total order through compareNewestFirst', () => {
      const sorted = [
        backup('2026-02-05T14:30:21Z'),
        backup(second, {counter: 10}),
        backup(second),
        backup(second, {counter: 9}),
        backup('2026-02-05T14:30:23Z'),
        backup(second, {counter: 2}),
      ].sort(compareNewestFirst)
      expect(sorted.map((b) => b.name)).to.deep.equal([
        'vpo-library-2026-02-05T143023Z.tar.gz',
        'vpo-library-2026-02-05T143022Z-10.tar.gz',
        'vpo-library-2026-02-05T143022Z-9.tar.gz',
        'vpo-library-2026-02-05T143022Z-2.tar.gz',
        'vpo-library-2026-02-05T143022Z.tar.gz',
        'vpo-library-2026-02-05T143021Z.tar.gz',
      ])
    })

    it('reads the counter of encrypted names too', () => {
      const plain = {name: 'vpo-library-2026-02-05T143022Z.tar.gz.age', createdAt: new Date(second)}
      const later = {name: 'vpo-library-2026-02-05T143022Z-2.tar.gz.age', createdAt: new Date(second)}
      expect([plain, later].sort(compareNewestFirst)).to.deep.equal([later, plain])
    })

    it('ranks the second before the counter: a -5 one second earlier is older', () => {
      const earlier = backup('2026-02-05T14:30:21Z', {counter: 5})
      const later = backup(second)
      expect([earlier, later].sort(compareNewestFirst)).to.deep.equal([later, earlier])
    })
  })

  it('never counts nor removes a custom-named archive (issue 10, item 3)', () => {
    const custom = backup('2026-04-10T12:00:00Z', {kind: 'other', name: 'weekly.tar.gz'})
    const backups = [backup('2026-04-08T12:00:00Z'), backup('2026-04-09T12:00:00Z'), custom]
    expect(summary(planRetention(backups, {last: 1}, new Date('2026-04-10T13:00:00Z')))).to.deep.equal({
      kept: {
        'weekly.tar.gz': ['not a regular backup'],
        'vpo-library-2026-04-09T120000Z.tar.gz': ['last', 'newest readable'],
      },
      removed: ['vpo-library-2026-04-08T120000Z.tar.gz'],
    })
  })

  it('never removes pre-restore or damaged backups, and they take no slot', () => {
    const backups = [
      backup('2026-05-01T12:00:00Z'),
      backup('2026-05-02T12:00:00Z'),
      backup('2026-05-03T12:00:00Z', {kind: 'pre-restore'}),
      backup('2026-05-04T12:00:00Z', {kind: 'damaged'}),
      backup('2025-01-01T12:00:00Z', {kind: 'pre-restore'}),
      backup('2025-01-02T12:00:00Z', {kind: 'damaged', readable: false}),
    ]
    expect(summary(planRetention(backups, {daily: 1}, new Date('2026-05-05T00:00:00Z')))).to.deep.equal({
      kept: {
        'vpo-library-2026-05-04T120000Z-damaged.tar.gz': ['damaged'],
        'vpo-library-2026-05-03T120000Z-pre-restore.tar.gz': ['safety backup'],
        'vpo-library-2026-05-02T120000Z.tar.gz': ['daily 2026-05-02', 'newest readable'],
        'vpo-library-2025-01-02T120000Z-damaged.tar.gz': ['damaged'],
        'vpo-library-2025-01-01T120000Z-pre-restore.tar.gz': ['safety backup'],
      },
      removed: ['vpo-library-2026-05-01T120000Z.tar.gz'],
    })
  })

  describe('damaged backups (issue 16): known not whole, they take no slot and are kept, saying why', () => {
    it('keeps the only whole backup, the oldest, when newer ones are cut short', () => {
      const backups = [
        {...backup('2026-01-03T00:00:00Z', {readable: false}), damage: 'the file is truncated'},
        {...backup('2026-01-02T00:00:00Z', {readable: false}), damage: 'it has 3 bytes after the end of the archive'},
        backup('2026-01-01T00:00:00Z'),
      ]
      for (const policy of [{last: 1}, {daily: 1}, {within: parseDuration('1d')}] as RetentionPolicy[]) {
        const {kept, removed} = summary(planRetention(backups, policy, new Date('2026-01-03T12:00:00Z')))
        expect(removed, JSON.stringify(policy)).to.deep.equal([])
        expect(kept['vpo-library-2026-01-03T000000Z.tar.gz']).to.deep.equal(['damaged: the file is truncated'])
        expect(kept['vpo-library-2026-01-02T000000Z.tar.gz']).to.deep.equal([
          'damaged: it has 3 bytes after the end of the archive',
        ])
        expect(kept['vpo-library-2026-01-01T000000Z.tar.gz']).to.include('newest readable')
      }
    })

    it('three good and two damaged newer ones, --keep-daily 3: the three good ones are the three days', () => {
      const backups = [
        {...backup('2026-01-05T00:00:00Z', {readable: false}), damage: 'the file is truncated'},
        {...backup('2026-01-04T00:00:00Z', {readable: false}), damage: 'the file is truncated'},
        backup('2026-01-03T00:00:00Z'),
        backup('2026-01-02T00:00:00Z'),
        backup('2026-01-01T00:00:00Z'),
      ]
      const {kept, removed} = summary(planRetention(backups, {daily: 3}, new Date('2026-01-05T12:00:00Z')))
      expect(removed).to.deep.equal([])
      expect(kept['vpo-library-2026-01-01T000000Z.tar.gz']).to.deep.equal(['daily 2026-01-01'])
    })
  })

  describe('the newest readable backup', () => {
    it('is kept even when no rule keeps it', () => {
      const backups = [backup('2026-01-01T00:00:00Z'), backup('2026-01-02T00:00:00Z')]
      expect(
        summary(planRetention(backups, {within: parseDuration('7d')}, new Date('2026-06-01T00:00:00Z'))),
      ).to.deep.equal({
        kept: {'vpo-library-2026-01-02T000000Z.tar.gz': ['newest readable']},
        removed: ['vpo-library-2026-01-01T000000Z.tar.gz'],
      })
    })

    it('is the newest one that reads: unreadable ones are candidates like others', () => {
      const backups = [
        backup('2026-01-03T00:00:00Z', {readable: false}),
        backup('2026-01-02T00:00:00Z', {readable: false}),
        backup('2026-01-01T00:00:00Z'),
        backup('2025-12-31T00:00:00Z'),
      ]
      expect(summary(planRetention(backups, {last: 1}, new Date('2026-01-04T00:00:00Z')))).to.deep.equal({
        kept: {
          'vpo-library-2026-01-03T000000Z.tar.gz': ['last'],
          'vpo-library-2026-01-01T000000Z.tar.gz': ['newest readable'],
        },
        removed: ['vpo-library-2026-01-02T000000Z.tar.gz', 'vpo-library-2025-12-31T000000Z.tar.gz'],
      })
    })

    it('is a regular backup: a newer readable safety backup does not lift the protection', () => {
      const backups = [
        backup('2026-01-05T00:00:00Z', {kind: 'pre-restore'}),
        backup('2026-01-01T00:00:00Z'),
        backup('2025-12-01T00:00:00Z'),
      ]
      expect(
        summary(planRetention(backups, {within: parseDuration('1d')}, new Date('2026-01-06T00:00:00Z'))),
      ).to.deep.equal({
        kept: {
          'vpo-library-2026-01-05T000000Z-pre-restore.tar.gz': ['safety backup'],
          'vpo-library-2026-01-01T000000Z.tar.gz': ['newest readable'],
        },
        removed: ['vpo-library-2025-12-01T000000Z.tar.gz'],
      })
    })

    it('is not one dated in the future while another qualifies; one dated in the future alone still is', () => {
      const backups = [
        {...backup('2027-01-01T00:00:00Z'), futureDated: true},
        backup('2026-01-02T00:00:00Z'),
        backup('2026-01-01T00:00:00Z'),
      ]
      expect(summary(planRetention(backups, {last: 1}, new Date('2026-01-03T00:00:00Z')))).to.deep.equal({
        kept: {
          'vpo-library-2027-01-01T000000Z.tar.gz': ['last'],
          'vpo-library-2026-01-02T000000Z.tar.gz': ['newest readable'],
        },
        removed: ['vpo-library-2026-01-01T000000Z.tar.gz'],
      })
      const alone = [{...backup('2027-01-01T00:00:00Z'), futureDated: true}]
      expect(
        summary(planRetention(alone, {within: parseDuration('1d')}, new Date('2026-01-03T00:00:00Z'))).kept,
      ).to.deep.equal({
        'vpo-library-2027-01-01T000000Z.tar.gz': ['within 1d', 'newest readable'],
      })
    })

    it('does not exist when none reads: then only the rules keep', () => {
      const backups = [
        backup('2026-01-02T00:00:00Z', {readable: false}),
        backup('2026-01-01T00:00:00Z', {readable: false}),
      ]
      expect(summary(planRetention(backups, {last: 1}, new Date('2026-01-03T00:00:00Z')))).to.deep.equal({
        kept: {'vpo-library-2026-01-02T000000Z.tar.gz': ['last']},
        removed: ['vpo-library-2026-01-01T000000Z.tar.gz'],
      })
    })
  })

  describe('within', () => {
    it('keeps backups at or after now − D, counted in hours', () => {
      const times = ['2026-03-09T00:00:00Z', '2026-03-08T23:59:59Z', '2026-03-10T11:00:00Z']
      expect(planned({within: parseDuration('36h')}, '2026-03-10T12:00:00Z', times)).to.deep.equal({
        kept: {
          'vpo-library-2026-03-10T110000Z.tar.gz': ['within 36h', 'newest readable'],
          'vpo-library-2026-03-09T000000Z.tar.gz': ['within 36h'],
        },
        removed: ['vpo-library-2026-03-08T235959Z.tar.gz'],
      })
    })

    it('subtracts calendar months, clamped to the end of a shorter month', () => {
      // 2026-03-31 minus one month is 2026-02-28 (not March 3 as Go's AddDate would give).
      const times = ['2026-03-30T00:00:00Z', '2026-02-28T12:00:00Z', '2026-02-28T11:59:59Z']
      expect(planned({within: parseDuration('1m')}, '2026-03-31T12:00:00Z', times)).to.deep.equal({
        kept: {
          'vpo-library-2026-03-30T000000Z.tar.gz': ['within 1m', 'newest readable'],
          'vpo-library-2026-02-28T120000Z.tar.gz': ['within 1m'],
        },
        removed: ['vpo-library-2026-02-28T115959Z.tar.gz'],
      })
    })

    it('renders combined durations in the reason', () => {
      const times = ['2025-01-01T00:00:00Z', '2024-12-31T23:59:59Z']
      expect(planned({within: parseDuration('1y6m')}, '2026-07-01T00:00:00Z', times)).to.deep.equal({
        kept: {'vpo-library-2025-01-01T000000Z.tar.gz': ['within 1y6m', 'newest readable']},
        removed: ['vpo-library-2024-12-31T235959Z.tar.gz'],
      })
    })
  })

  it('keeps a backup when any rule keeps it, listing every rule (combination)', () => {
    const now = new Date('2026-06-15T12:00:00Z')
    const backups = [
      backup('2026-06-15T06:00:00Z'),
      backup('2026-06-15T03:00:00Z'),
      backup('2026-06-14T03:00:00Z'),
      backup('2026-06-01T03:00:00Z'),
      backup('2026-05-20T03:00:00Z'),
      backup('2026-04-30T03:00:00Z'),
      backup('2026-04-01T03:00:00Z'),
    ]
    const decisions = planRetention(backups, {last: 2, daily: 2, monthly: 3, within: parseDuration('2w')}, now)
    expect(summary(decisions)).to.deep.equal({
      kept: {
        'vpo-library-2026-06-15T060000Z.tar.gz': [
          'last',
          'daily 2026-06-15',
          'monthly 2026-06',
          'within 2w',
          'newest readable',
        ],
        'vpo-library-2026-06-15T030000Z.tar.gz': ['last', 'within 2w'],
        'vpo-library-2026-06-14T030000Z.tar.gz': ['daily 2026-06-14', 'within 2w'],
        'vpo-library-2026-05-20T030000Z.tar.gz': ['monthly 2026-05'],
        'vpo-library-2026-04-30T030000Z.tar.gz': ['monthly 2026-04'],
      },
      removed: ['vpo-library-2026-06-01T030000Z.tar.gz', 'vpo-library-2026-04-01T030000Z.tar.gz'],
    })
  })

  describe('calendar boundaries (UTC)', () => {
    it('puts 2026-12-31 and 2027-01-01 in ISO week 2026-W53', () => {
      expect(isoWeek(new Date('2026-12-28T00:00:00Z'))).to.equal('2026-W53')
      expect(isoWeek(new Date('2026-12-31T23:59:59Z'))).to.equal('2026-W53')
      expect(isoWeek(new Date('2027-01-01T00:00:00Z'))).to.equal('2026-W53')
      expect(isoWeek(new Date('2027-01-03T23:59:59Z'))).to.equal('2026-W53')
      expect(isoWeek(new Date('2027-01-04T00:00:00Z'))).to.equal('2027-W01')
      expect(isoWeek(new Date('2024-12-30T00:00:00Z'))).to.equal('2025-W01')
      expect(isoWeek(new Date('2026-01-01T00:00:00Z'))).to.equal('2026-W01')
      expect(isoWeek(new Date('2025-12-28T00:00:00Z'))).to.equal('2025-W52')
    })

    it('keeps one backup for the week that straddles the new year, and one per year', () => {
      const backups = [backup('2026-12-27T12:00:00Z'), backup('2026-12-31T12:00:00Z'), backup('2027-01-01T12:00:00Z')]
      const now = new Date('2027-01-02T00:00:00Z')
      expect(summary(planRetention(backups, {weekly: 2}, now))).to.deep.equal({
        kept: {
          'vpo-library-2027-01-01T120000Z.tar.gz': ['weekly 2026-W53', 'newest readable'],
          'vpo-library-2026-12-27T120000Z.tar.gz': ['weekly 2026-W52'],
        },
        removed: ['vpo-library-2026-12-31T120000Z.tar.gz'],
      })
      expect(summary(planRetention(backups, {yearly: 2}, now)).kept).to.deep.equal({
        'vpo-library-2027-01-01T120000Z.tar.gz': ['yearly 2027', 'newest readable'],
        'vpo-library-2026-12-31T120000Z.tar.gz': ['yearly 2026'],
      })
    })

    it('splits days, months and years at midnight UTC', () => {
      const backups = [backup('2025-12-31T23:59:59Z'), backup('2026-01-01T00:00:00Z'), backup('2025-12-31T00:00:00Z')]
      const now = new Date('2026-01-01T01:00:00Z')
      expect(summary(planRetention(backups, {daily: 2, monthly: 2, yearly: 2}, now)).kept).to.deep.equal({
        'vpo-library-2026-01-01T000000Z.tar.gz': [
          'daily 2026-01-01',
          'monthly 2026-01',
          'yearly 2026',
          'newest readable',
        ],
        'vpo-library-2025-12-31T235959Z.tar.gz': ['daily 2025-12-31', 'monthly 2025-12', 'yearly 2025'],
      })
    })
  })

  describe('policy validation', () => {
    const backups = [backup('2026-01-01T00:00:00Z')]
    const now = new Date('2026-01-02T00:00:00Z')

    it('requires at least one rule (usage error, exit 2)', () => {
      expectUsageError(() => planRetention(backups, {}, now), /at least one retention rule/)
      expectUsageError(() => planRetention([], {}, now), /at least one retention rule/)
    })

    it('treats a count of 0 as the rule switched off, as restic does', () => {
      expectUsageError(() => planRetention(backups, {last: 0, daily: 0}, now), /at least one retention rule/)
      expect(planRetention(backups, {last: 0, daily: 1}, now)[0].reasons).to.deep.equal([
        'daily 2026-01-01',
        'newest readable',
      ])
    })

    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY] as const) {
      it(`rejects a count of ${bad}`, () => {
        expectUsageError(
          () => planRetention(backups, {weekly: bad} as RetentionPolicy, now),
          /--keep-weekly must be a whole number/,
        )
      })
    }
  })

  it('keeps everything of an empty or protected-only listing', () => {
    expect(planRetention([], {last: 1}, new Date())).to.deep.equal([])
    const onlyOther = [backup('2026-01-01T00:00:00Z', {kind: 'other', name: 'mine.tar.gz'})]
    expect(planRetention(onlyOther, {last: 1}, new Date())[0]).to.deep.include({
      keep: true,
      reasons: ['not a regular backup'],
    })
  })

  it('keeps a regular backup whose time is unknown, and never takes it for the newest', () => {
    const undated = {
      ...backup('2026-01-01T00:00:00Z'),
      name: 'vpo-library-2026-99-99T000000Z.tar.gz',
      createdAt: new Date(Number.NaN),
    }
    const backups = [undated, backup('2026-01-02T00:00:00Z'), backup('2026-01-01T00:00:00Z')]
    const decisions = planRetention(backups, {last: 1}, new Date('2026-01-03T00:00:00Z'))
    expect(decisions.map((d) => d.backup.name)).to.deep.equal([
      'vpo-library-2026-01-02T000000Z.tar.gz',
      'vpo-library-2026-01-01T000000Z.tar.gz',
      'vpo-library-2026-99-99T000000Z.tar.gz',
    ])
    expect(summary(decisions)).to.deep.equal({
      kept: {
        'vpo-library-2026-01-02T000000Z.tar.gz': ['last', 'newest readable'],
        'vpo-library-2026-99-99T000000Z.tar.gz': ['unknown date'],
      },
      removed: ['vpo-library-2026-01-01T000000Z.tar.gz'],
    })
  })

  describe('backupKindOf', () => {
    const cases: Array<[string, CandidateKind]> = [
      ['vpo-library-2026-02-05T143022Z.tar.gz', 'regular'],
      ['vpo-library-2026-02-05T143022Z-2.tar.gz', 'regular'],
      ['vpo-library-2026-02-05T143022Z-10.tar.gz.age', 'regular'],
      ['vpo-library-2026-02-05T14-30-22Z.tar.gz', 'regular'],
      ['vpo-library-2026-02-05T143022Z-pre-restore.tar.gz', 'pre-restore'],
      ['vpo-library-2026-02-05T143022Z-pre-restore-3.tar.gz.age', 'pre-restore'],
      ['vpo-library-2026-02-05T143022Z-damaged.tar.gz', 'damaged'],
      ['vpo-library-2026-02-05T143022Z-damaged-2.tar.gz', 'damaged'],
      ['weekly.tar.gz', 'other'],
      ['vpo-library-manual.tar.gz', 'other'],
      ['vpo-library-2026-02-05T143022Z.tar.gz.tmp', 'other'],
      ['vpo-library-2026-02-05T143022Z-copy.tar.gz', 'other'],
      ['vpo-library-2026-02-05T143022Z.tar', 'other'],
    ]
    for (const [name, kind] of cases) {
      it(`${name} is ${kind}`, () => {
        expect(backupKindOf(name)).to.equal(kind)
      })
    }

    it('makes anything that is not a regular file "other", whatever its name (issue 10, item 4)', () => {
      expect(backupKindOf('vpo-library-2026-02-05T143022Z.tar.gz', false)).to.equal('other')
    })
  })

  it('describes the policy in words for the human output', () => {
    expect(describePolicy({daily: 7, weekly: 4, monthly: 6})).to.equal('keep 7 daily, 4 weekly and 6 monthly backups')
    expect(describePolicy({last: 1})).to.equal('keep the last backup')
    expect(describePolicy({last: 3, yearly: 1, within: parseDuration('7d')})).to.equal(
      'keep the last 3 and 1 yearly backups, and all within 7d',
    )
    expect(describePolicy({within: parseDuration('1y6m')})).to.equal('keep all backups within 1y6m')
    expect(describePolicy({yearly: 1, daily: 0})).to.equal('keep 1 yearly backup')
  })
})
