/** How sizes, counts and durations read in the human output. */
import {expect} from 'chai'

import {formatBytes, formatCount, formatSeconds} from '../../src/lib/format.js'

describe('format', () => {
  it('formatBytes: bytes below 1000, then decimal units with one decimal', () => {
    expect(formatBytes(0)).to.equal('0 B')
    expect(formatBytes(999)).to.equal('999 B')
    expect(formatBytes(1000)).to.equal('1.0 KB')
    expect(formatBytes(572_300)).to.equal('572.3 KB')
    expect(formatBytes(52_400_000)).to.equal('52.4 MB')
    expect(formatBytes(9_876_543_210_000)).to.equal('9.9 TB')
  })

  it('formatCount: thousands separators', () => {
    expect(formatCount(0)).to.equal('0')
    expect(formatCount(1523)).to.equal('1,523')
    expect(formatCount(88_000)).to.equal('88,000')
  })

  it('formatSeconds: two decimals under 10 s, one above', () => {
    expect(formatSeconds(0.123)).to.equal('0.12 s')
    expect(formatSeconds(9.5)).to.equal('9.50 s')
    expect(formatSeconds(12.34)).to.equal('12.3 s')
  })
})
