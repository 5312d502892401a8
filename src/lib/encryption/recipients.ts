/**
 * Who a backup is encrypted to: age X25519 keys (`age1…`) and SSH public keys, as `age -r` and
 * `age -R` accept them. Inputs are never echoed back: a user may paste a secret key by mistake.
 */
import fsp from 'node:fs/promises'

import {LibraryBackupError} from '../errors.js'
import {UnusableKey} from './recipient-checks.js'
import {SshEd25519Recipient} from './ssh-ed25519.js'
import {SshRsaRecipient} from './ssh-rsa.js'
import {type Recipient} from './stanza.js'
import {X25519Recipient} from './x25519.js'

export type AgeRecipient = Recipient

const HOW = 'Use an age1… key (age-keygen prints it) or an ssh-ed25519 / ssh-rsa public key.'
const KINDS = {
  age: 'age X25519 public key (age1…)',
  'ssh-ed25519': 'ssh-ed25519 public key',
  'ssh-rsa': 'ssh-rsa public key',
}
const BASE64 = /^[\d+/A-Za-z]+={0,2}$/

function parseOne(text: string, where: string): AgeRecipient {
  const value = text.trim()
  if (value.startsWith('AGE-SECRET-KEY-')) {
    throw new LibraryBackupError('USAGE_ERROR', `${where} is a secret key, not a recipient`, {
      hint: 'Pass its public key instead (age-keygen -y KEYFILE prints it).',
    })
  }

  if (/^age1pq1/i.test(value)) {
    throw new LibraryBackupError(
      'USAGE_ERROR',
      `${where} is a post-quantum age recipient (age1pq1…), and post-quantum age recipients are not supported yet`,
      {hint: 'Use an age1… X25519 key (plain age-keygen prints one) or an SSH public key.'},
    )
  }

  if (/^age1[a-z\d]+1/i.test(value) && !/^age1[^1]*$/i.test(value)) {
    throw new LibraryBackupError(
      'USAGE_ERROR',
      `${where} is an age plugin recipient, and age plugins are not supported`,
      {
        hint: HOW,
      },
    )
  }

  const [type, base64 = ''] = value.split(/\s+/)
  const kind = value.startsWith('age1') ? 'age' : type
  if (kind !== 'age' && kind !== 'ssh-ed25519' && kind !== 'ssh-rsa') {
    throw new LibraryBackupError('USAGE_ERROR', `${where} is not a supported recipient`, {hint: HOW})
  }

  try {
    if (kind === 'age') return new X25519Recipient(value)
    // Node's base64 decoder skips what it cannot read, so a mangled key would pass as a shorter one.
    if (!BASE64.test(base64)) throw new Error('not base64')
    const blob = Buffer.from(base64, 'base64')
    return kind === 'ssh-ed25519' ? new SshEd25519Recipient(blob) : new SshRsaRecipient(blob)
  } catch (error) {
    // Other parsers' messages may quote the input or print its numbers, so only ours are kept.
    const why = error instanceof UnusableKey ? `: ${error.message}` : ''
    throw new LibraryBackupError('USAGE_ERROR', `${where} is not a valid ${KINDS[kind]}${why}`, {hint: HOW})
  }
}

export function parseRecipients(values: readonly string[]): AgeRecipient[] {
  return values.map((value, index) => parseOne(value, `Recipient ${index + 1} of --encrypt-to`))
}

/** age's recipients file format: one recipient per line, `#` comments and blank lines ignored. */
export async function readRecipientsFile(filePath: string): Promise<AgeRecipient[]> {
  let text: string
  try {
    text = await fsp.readFile(filePath, 'utf8')
  } catch {
    throw new LibraryBackupError('USAGE_ERROR', `Cannot read the recipients file ${filePath}`, {
      hint: 'Check the path and its permissions.',
    })
  }

  const recipients: AgeRecipient[] = []
  for (const [index, line] of text.split('\n').entries()) {
    const trimmed = line.trim()
    if (trimmed === '' || trimmed.startsWith('#')) continue
    recipients.push(parseOne(trimmed, `Line ${index + 1} of ${filePath}`))
  }

  if (recipients.length === 0) {
    throw new LibraryBackupError('USAGE_ERROR', `The recipients file ${filePath} lists no recipients`, {hint: HOW})
  }

  return recipients
}
