/**
 * The keys that open backups: age identity files (`AGE-SECRET-KEY-1…` lines, as age-keygen writes
 * them) and unencrypted OpenSSH ed25519/RSA private keys, as `age -d -i` accepts them.
 */
import fsp from 'node:fs/promises'
import {inspect} from 'node:util'

import {LibraryBackupError} from '../errors.js'
import {badIdentityFile} from './key-errors.js'
import {SshEd25519Identity} from './ssh-ed25519.js'
import {rsaIdentityFromOpenSsh, rsaIdentityFromPem} from './ssh-rsa.js'
import {EncryptedSshKeyError, parseOpenSshPrivateKey} from './ssh-wire.js'
import {type Identity} from './stanza.js'
import {X25519Identity} from './x25519.js'

/** Group or world may read: the key is no longer only its owner's (the r bits of g and o). */
function sharedReadable(mode: number): boolean {
  const permissions = mode % 0o1000
  return Math.floor(permissions / 0o40) % 2 === 1 || Math.floor(permissions / 0o4) % 2 === 1
}

/** Holds secret keys; prints and serialises as a count so a stray log line can't leak one. */
export class IdentitySet {
  constructor(readonly keys: readonly Identity[]) {}

  get size(): number {
    return this.keys.length
  }

  [inspect.custom](): string {
    return `IdentitySet(${this.keys.length})`
  }

  toJSON(): {identities: number} {
    return {identities: this.keys.length}
  }

  toString(): string {
    return `IdentitySet(${this.keys.length})`
  }
}

function sshIdentity(text: string, filePath: string): Identity {
  try {
    if (text.includes('-----BEGIN OPENSSH PRIVATE KEY-----')) {
      const key = parseOpenSshPrivateKey(text)
      if (key.type === 'ssh-ed25519') {
        key.fields.string()
        const seed = key.fields.string().subarray(0, 32)
        return new SshEd25519Identity(key.publicBlob, seed)
      }

      if (key.type === 'ssh-rsa') return rsaIdentityFromOpenSsh(key.fields)
      throw new Error('unsupported SSH key type')
    }

    return rsaIdentityFromPem(text)
  } catch (error) {
    if (error instanceof EncryptedSshKeyError) {
      throw badIdentityFile(
        filePath,
        'is protected by a passphrase',
        'Use an age key (age-keygen) or an unencrypted ssh-ed25519/ssh-rsa key.',
      )
    }

    throw badIdentityFile(
      filePath,
      'is not a usable SSH private key',
      'Use an age key (age-keygen) or an ssh-ed25519/ssh-rsa key.',
    )
  }
}

function ageIdentities(text: string, filePath: string): Identity[] {
  const keys: Identity[] = []
  for (const line of text.split('\n')) {
    const trimmed = line.trim()
    if (trimmed === '' || trimmed.startsWith('#')) continue
    if (/^(age1|ssh-)/.test(trimmed)) {
      throw badIdentityFile(filePath, 'holds a public key (a recipient)', 'Pass the private key file instead.')
    }

    if (trimmed.startsWith('AGE-SECRET-KEY-PQ-1')) {
      throw badIdentityFile(
        filePath,
        'holds a post-quantum key (AGE-SECRET-KEY-PQ-1…), which VPO backups do not support yet',
        'Use an age X25519 key (age-keygen without -pq) or an ssh-ed25519/ssh-rsa key.',
      )
    }

    try {
      keys.push(new X25519Identity(trimmed))
    } catch {
      // The bech32 parser's message may quote the key, so it is not passed on.
      throw badIdentityFile(
        filePath,
        'has a line that is not an age secret key (AGE-SECRET-KEY-1…)',
        'Make one with age-keygen.',
      )
    }
  }

  if (keys.length === 0) throw badIdentityFile(filePath, 'holds no keys', 'Make one with age-keygen -o FILE.')
  return keys
}

async function loadOne(filePath: string): Promise<Identity[]> {
  let text: string
  try {
    const stat = await fsp.stat(filePath)
    if (!stat.isFile()) throw badIdentityFile(filePath, 'is not a regular file')
    if (sharedReadable(stat.mode)) {
      throw badIdentityFile(filePath, 'can be read by other users', `Run chmod 600 ${filePath} and try again.`)
    }

    text = await fsp.readFile(filePath, 'utf8')
  } catch (error) {
    if (error instanceof LibraryBackupError) throw error
    throw badIdentityFile(filePath, 'cannot be read', 'Check the path and that it belongs to you.')
  }

  if (text.startsWith('age-encryption.org/') || text.includes('-----BEGIN AGE ENCRYPTED FILE-----')) {
    throw badIdentityFile(filePath, 'is itself encrypted', 'Decrypt it with age -d to a private file first.')
  }

  if (text.includes('-----BEGIN ')) return [sshIdentity(text, filePath)]

  return ageIdentities(text, filePath)
}

export async function loadIdentities(paths: readonly string[]): Promise<IdentitySet> {
  const keys: Identity[] = []
  for (const filePath of paths) keys.push(...(await loadOne(filePath)))
  return new IdentitySet(keys)
}
