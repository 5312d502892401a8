import {generateX25519Identity, identityToRecipient} from 'age-encryption'
/** Keys and encrypted files made in-process (no `age` binary needed), and byte surgery on them. */
import {expect} from 'chai'
import fs from 'node:fs'
import path from 'node:path'

import {LibraryBackupError} from '../../src/lib/errors.js'

export interface LocalKey {
  identityFile: string
  recipient: string
  secret: string
}

export async function makeLocalKey(dir: string, name: string): Promise<LocalKey> {
  const secret = await generateX25519Identity()
  const identityFile = path.join(dir, name)
  fs.writeFileSync(
    identityFile,
    `# created: by the tests\n# public key: ${await identityToRecipient(secret)}\n${secret}\n`,
    {mode: 0o600},
  )
  return {identityFile, recipient: await identityToRecipient(secret), secret}
}

/** Where the payload starts: after the header's `--- MAC` line and the 16-byte nonce. */
export function payloadOffset(sealed: Buffer): number {
  return sealed.indexOf('\n---') + sealed.subarray(sealed.indexOf('\n---') + 1).indexOf('\n') + 2 + 16
}

export function flipped(data: Buffer, position: number): Buffer {
  const copy = Buffer.from(data)
  copy[position] ^= 0x01
  return copy
}

export async function expectCode(promise: Promise<unknown>, code: string): Promise<LibraryBackupError> {
  try {
    await promise
  } catch (error) {
    expect(error, String(error)).to.be.instanceOf(LibraryBackupError)
    expect((error as LibraryBackupError).code, (error as Error).message).to.equal(code)
    return error as LibraryBackupError
  }

  throw new Error(`expected ${code}, but it succeeded`)
}
