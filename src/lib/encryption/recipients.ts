/**
 * Who a backup is encrypted to: age X25519 keys (`age1…`) and SSH public keys, as `age -r` and
 * `age -R` accept them. Inputs are never echoed back: a user may paste a secret key by mistake.
 */
import fsp from 'node:fs/promises'

import {LibraryBackupError} from '../errors.js'
import {SshEd25519Recipient} from './ssh-ed25519.js'
import {SshRsaRecipient} from './ssh-rsa.js'
import {type Recipient} from './stanza.js'
import {X25519Recipient} from './x25519.js'

export type AgeRecipient = Recipient

const HOW = 'Use an age1… key (age-keygen prints it) or an ssh-ed25519 / ssh-rsa public key.'

function parseOne(text: string, where: string): AgeRecipient {
  const value = text.trim()
  if (value.startsWith('AGE-SECRET-KEY-')) {
    throw new LibraryBackupError('USAGE_ERROR', `${where} is a secret key, not a recipient`, {
      hint: 'Pass its public key instead (age-keygen -y KEYFILE prints it).',
    })
  }

  try {
    // Parser messages may quote the input, so they are dropped.
    if (value.startsWith('age1')) return new X25519Recipient(value)

    const [type, base64] = value.split(/\s+/)
    const blob = Buffer.from(base64 ?? '', 'base64')
    if (type === 'ssh-ed25519') return new SshEd25519Recipient(blob)
    if (type === 'ssh-rsa') return new SshRsaRecipient(blob)
  } catch {
    throw new LibraryBackupError('USAGE_ERROR', `${where} is not a valid recipient`, {hint: HOW})
  }

  throw new LibraryBackupError('USAGE_ERROR', `${where} is not a supported recipient`, {hint: HOW})
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
