/**
 * Backup file names: the time they carry (this plugin's compact form and the Python tool's
 * hyphenated one), and which names are regular backups or pre-restore snapshots.
 */
import {expect} from 'chai'

import {backupFileName, formatCreatedAt, parseBackupName} from '../../src/lib/repository/backup-names.js'

const timestampFromFileName = (name: string) => parseBackupName(name)?.time
const isRegularBackupFileName = (name: string) => parseBackupName(name)?.kind === 'regular'
const isPreRestoreFileName = (name: string) => parseBackupName(name)?.kind === 'pre-restore'

describe('backup file names', () => {
  it('timestampFromFileName reads both the compact and the hyphenated (Python) forms', () => {
    expect(timestampFromFileName('vpo-library-2026-02-05T143022Z.tar.gz')?.toISOString()).to.equal(
      '2026-02-05T14:30:22.000Z',
    )
    expect(timestampFromFileName('vpo-library-2026-01-02T03-04-05Z.tar.gz')?.toISOString()).to.equal(
      '2026-01-02T03:04:05.000Z',
    )
    expect(timestampFromFileName('vpo-library-2026-02-05T143022Z-2.tar.gz')?.toISOString()).to.equal(
      '2026-02-05T14:30:22.000Z',
    )
    expect(timestampFromFileName('vpo-library-2026-02-05T143022Z-pre-restore.tar.gz')?.toISOString()).to.equal(
      '2026-02-05T14:30:22.000Z',
    )
  })

  it('timestampFromFileName has no answer for names without a timestamp', () => {
    expect(timestampFromFileName('vpo-library-from-old-laptop.tar.gz')).to.equal(undefined)
    expect(timestampFromFileName('notes.txt')).to.equal(undefined)
    expect(timestampFromFileName('library-2026-02-05T143022Z.tar.gz')).to.equal(undefined)
    expect(timestampFromFileName('vpo-library-2026-99-99T999999Z.tar.gz')).to.equal(undefined)
  })

  it('regular backups and pre-restore snapshots are told apart by name', () => {
    expect(isRegularBackupFileName('vpo-library-2026-02-05T143022Z.tar.gz')).to.equal(true)
    expect(isRegularBackupFileName('vpo-library-2026-02-05T143022Z-3.tar.gz')).to.equal(true)
    expect(isRegularBackupFileName('vpo-library-2026-02-05T143022Z-pre-restore.tar.gz')).to.equal(false)
    expect(isRegularBackupFileName('vpo-library-mine.tar.gz')).to.equal(false)
    expect(isRegularBackupFileName('vpo-library-2026-02-05T143022Z.tar.gz.part')).to.equal(false)
    expect(isPreRestoreFileName('vpo-library-2026-02-05T143022Z-pre-restore.tar.gz')).to.equal(true)
    expect(isPreRestoreFileName('vpo-library-2026-02-05T143022Z-pre-restore-2.tar.gz')).to.equal(true)
    expect(isPreRestoreFileName('vpo-library-2026-02-05T143022Z.tar.gz')).to.equal(false)
  })

  it('backupFileName: the compact UTC time, then -pre-restore, then the attempt counter', () => {
    const at = new Date('2026-02-05T14:30:22.987Z')
    expect(backupFileName(at)).to.equal('vpo-library-2026-02-05T143022Z.tar.gz')
    expect(backupFileName(at, {attempt: 2})).to.equal('vpo-library-2026-02-05T143022Z-2.tar.gz')
    expect(backupFileName(at, {kind: 'pre-restore'})).to.equal('vpo-library-2026-02-05T143022Z-pre-restore.tar.gz')
    expect(backupFileName(at, {kind: 'pre-restore', attempt: 3})).to.equal(
      'vpo-library-2026-02-05T143022Z-pre-restore-3.tar.gz',
    )
    expect(formatCreatedAt(at)).to.equal('2026-02-05T14:30:22Z')
  })

  it('every name backupFileName gives reads back as its time, to the second, and sorts by it', () => {
    const times = ['1999-12-31T23:59:59Z', '2026-02-05T14:30:22Z', '2026-02-05T14:30:23Z', '2038-01-19T03:14:08Z'].map(
      (t) => new Date(t),
    )
    for (const at of times) {
      for (const attempt of [1, 2, 10]) {
        const name = backupFileName(at, {attempt})
        expect(timestampFromFileName(name)?.getTime(), name).to.equal(at.getTime())
        expect(isRegularBackupFileName(name), name).to.equal(true)
        const preRestore = backupFileName(at, {attempt, kind: 'pre-restore'})
        expect(timestampFromFileName(preRestore)?.getTime(), preRestore).to.equal(at.getTime())
        expect(isPreRestoreFileName(preRestore), preRestore).to.equal(true)
      }
    }

    const names = times.map((at) => backupFileName(at))
    expect([...names].reverse().sort()).to.deep.equal(names)
  })
})
