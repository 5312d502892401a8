/**
 * The Ed25519 check that runs without @noble/curves must accept exactly the keys whose Montgomery
 * form noble computes (the one encryption uses), and refuse the ones it cannot convert.
 */
import {ed25519} from '@noble/curves/ed25519.js'
import {expect} from 'chai'
import crypto from 'node:crypto'

import {assertUsableEd25519, assertUsableX25519} from '../../src/lib/encryption/recipient-checks.js'

function accepted(check: (bytes: Uint8Array) => void, bytes: Uint8Array): boolean {
  try {
    check(bytes)
    return true
  } catch {
    return false
  }
}

function nobleConverts(bytes: Uint8Array): boolean {
  try {
    const u = ed25519.utils.toMontgomery(bytes)
    return accepted(assertUsableX25519, u)
  } catch {
    return false
  }
}

describe('recipient key checks', () => {
  it('agree with @noble/curves on 600 real and random Ed25519 public keys', () => {
    let real = 0
    for (let i = 0; i < 600; i++) {
      const bytes = i % 2 ? crypto.randomBytes(32) : ed25519.getPublicKey(crypto.randomBytes(32))
      const ours = accepted(assertUsableEd25519, bytes)
      expect(ours, Buffer.from(bytes).toString('hex')).to.equal(nobleConverts(bytes))
      if (i % 2 === 0) expect(ours, 'a real key').to.equal(true)
      if (ours) real++
    }

    // About half of random 32-byte strings are points, so both branches were really taken.
    expect(real).to.be.within(390, 510)
  })

  it('refuse the eight low-order Ed25519 points and the canonical-encoding violations', () => {
    const lowOrder = [
      '0100000000000000000000000000000000000000000000000000000000000000',
      'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      '0000000000000000000000000000000000000000000000000000000000000000',
      '0000000000000000000000000000000000000000000000000000000000000080',
      'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
      'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
      '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
      '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85',
    ]
    for (const hex of lowOrder) expect(accepted(assertUsableEd25519, Buffer.from(hex, 'hex')), hex).to.equal(false)
    // y = p + 1 encodes the neutral point's y non-canonically.
    const nonCanonical = 'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'
    expect(accepted(assertUsableEd25519, Buffer.from(nonCanonical, 'hex'))).to.equal(false)
    expect(accepted(assertUsableEd25519, Buffer.alloc(31))).to.equal(false)
  })
})
