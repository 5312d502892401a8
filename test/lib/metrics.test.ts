import {expect} from 'chai'

import {renderMetrics} from '../../src/lib/metrics.js'

describe('metrics text', () => {
  const run = {
    command: 'backup' as const,
    startedAt: new Date(1_000_000),
    finishedAt: new Date(1_002_500),
    values: {vpo_backup_library_files: 150},
  }

  it('a failed run keeps the last success and the gauges it could not measure, and the other commands', () => {
    const previous = [
      {name: 'vpo_backup_last_success_timestamp_seconds', command: 'backup', value: 900},
      {name: 'vpo_backup_archive_size_bytes', command: 'backup', value: 4096},
      {name: 'vpo_backup_last_exit_code', command: 'verify', value: 3},
    ]
    const text = renderMetrics(previous, {...run, exitCode: 11})
    expect(text).to.contain('vpo_backup_last_success_timestamp_seconds{command="backup"} 900\n')
    expect(text).to.contain('vpo_backup_archive_size_bytes{command="backup"} 4096\n')
    expect(text).to.contain('vpo_backup_library_files{command="backup"} 150\n')
    expect(text).to.contain('vpo_backup_last_exit_code{command="backup"} 11\n')
    expect(text).to.contain('vpo_backup_last_exit_code{command="verify"} 3\n')
    expect(text).to.contain('vpo_backup_last_duration_seconds{command="backup"} 2.5\n')
    expect(text.match(/# TYPE vpo_backup_last_exit_code gauge/g)).to.have.lengthOf(1)
  })

  it('a successful run sets the last success to its end', () => {
    const text = renderMetrics([], {...run, exitCode: 0})
    expect(text).to.contain('vpo_backup_last_success_timestamp_seconds{command="backup"} 1002.5\n')
  })
})
