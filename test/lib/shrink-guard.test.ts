import {expect} from 'chai'

import {type CountedBackup, parseMaxShrink, shrank, shrinkState} from '../../src/lib/repository/shrink-guard.js'

function history(counts: number[]): CountedBackup[] {
  return counts.map((fileCount, night) => ({
    name: `vpo-library-2026-01-${String(night + 1).padStart(2, '0')}T033000Z.tar.gz`,
    path: `/b/night-${night + 1}`,
    createdAt: new Date(Date.UTC(2026, 0, night + 1, 3, 30)),
    fileCount,
  }))
}

describe('shrink guard rules', () => {
  it('"more than" the limit: exactly 20% is allowed, a library with no files cannot shrink, 100% is off', () => {
    expect(shrank(1500, 1200, 20)).to.equal(false)
    expect(shrank(1500, 1199, 20)).to.equal(true)
    expect(shrank(0, 0, 20)).to.equal(false)
    expect(shrank(1500, 0, 99.9)).to.equal(true)
    expect(shrank(1500, 0, 100)).to.equal(false)
    expect(shrank(10, 20, 0)).to.equal(false)
    expect(shrank(10, 9, 0)).to.equal(true)
  })

  it('--max-shrink takes 20%, 20, 12.5% and refuses anything else', () => {
    expect(parseMaxShrink('20%')).to.equal(20)
    expect(parseMaxShrink('20')).to.equal(20)
    expect(parseMaxShrink('12.5%')).to.equal(12.5)
    expect(parseMaxShrink('100%')).to.equal(100)
    for (const bad of ['', '101%', '-5%', 'most', '20%%', '0x10'])
      expect(() => parseMaxShrink(bad), bad).to.throw('--max-shrink must be a percentage from 0% to 100%')
  })

  it('the reference stays on the last backup before a drop until a later one is back within range', () => {
    const nights = history([1500, 1500, 150, 140, 1480, 1400])
    expect(shrinkState(nights.slice(0, 4), 20)).to.deep.equal({reference: nights[1], shrunkTo: nights[3]})
    expect(shrinkState(nights.slice(0, 5), 20)).to.deep.equal({reference: nights[4], shrunkTo: undefined})
    expect(shrinkState(nights, 20).reference).to.equal(nights[5])
  })

  it('drops at or before an acceptance only seed the walk; order of input does not matter', () => {
    const nights = history([1500, 150, 150, 140])
    expect(shrinkState(nights.toReversed(), 20).reference).to.equal(nights[0])
    expect(shrinkState(nights, 20, nights[1].createdAt)).to.deep.equal({reference: nights[3], shrunkTo: undefined})
    expect(shrinkState(nights, 20, nights[0].createdAt)).to.deep.equal({reference: nights[0], shrunkTo: nights[3]})
  })
})
