/**
 * The real `age` and `ssh-keygen` tools for interoperability tests, and keys made with them.
 * Tests that need a tool skip, saying so, when it is missing.
 */
import {spawnSync, type SpawnSyncReturns} from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

import {makeTempDir} from './temp-dirs.js'

function available(command: string, args: string[]): boolean {
  return spawnSync(command, args, {stdio: 'ignore'}).error === undefined
}

export const HAS_AGE = available('age', ['--version']) && available('age-keygen', ['--version'])
export const HAS_SSH_KEYGEN = available('ssh-keygen', ['-?'])

/**
 * Why a test can't run here ('' when it can), for `this.skip()`: the caller prints it, so a
 * machine without `age` says so instead of passing silently.
 */
export function missingTools(tools: {age?: boolean; ssh?: boolean}): string {
  const missing = [
    tools.age && !HAS_AGE ? 'age (apt-get install age)' : '',
    tools.ssh && !HAS_SSH_KEYGEN ? 'ssh-keygen' : '',
  ].filter(Boolean)
  return missing.length > 0 ? `skipped: ${missing.join(' and ')} not installed` : ''
}

export function run(command: string, args: string[], input?: Buffer | string): SpawnSyncReturns<Buffer> {
  const result = spawnSync(command, args, {input, maxBuffer: 512 * 1024 * 1024})
  if (result.error) throw result.error
  return result
}

export function runOk(command: string, args: string[], input?: Buffer | string): Buffer {
  const result = run(command, args, input)
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr.toString()}`)
  return result.stdout
}

export interface AgeKey {
  identityFile: string
  recipient: string
  secret: string
}

export function makeAgeKey(dir: string, name = 'key.txt'): AgeKey {
  const identityFile = path.join(dir, name)
  runOk('age-keygen', ['-o', identityFile])
  fs.chmodSync(identityFile, 0o600)
  const text = fs.readFileSync(identityFile, 'utf8')
  return {identityFile, recipient: /public key: (age1\w+)/.exec(text)![1], secret: /AGE-SECRET-KEY-1\w+/.exec(text)![0]}
}

export interface SshKey {
  identityFile: string
  publicFile: string
  publicKey: string
  /** The private file's base64 body, to look for in messages. */
  secretBody: string
}

export function makeSshKey(dir: string, type: 'ed25519' | 'rsa', passphrase = ''): SshKey {
  const identityFile = path.join(dir, `id_${type}${passphrase ? '_locked' : ''}`)
  runOk('ssh-keygen', [
    '-q',
    '-t',
    type,
    ...(type === 'rsa' ? ['-b', '2048'] : []),
    '-N',
    passphrase,
    '-C',
    'test@vpo',
    '-f',
    identityFile,
  ])
  const secretBody = fs
    .readFileSync(identityFile, 'utf8')
    .split('\n')
    .filter((line) => !line.startsWith('-----'))
    .join('')
  return {
    identityFile,
    publicFile: `${identityFile}.pub`,
    publicKey: fs.readFileSync(`${identityFile}.pub`, 'utf8').trim(),
    secretBody,
  }
}

/** The keys a suite makes with the real tools, in a fresh directory: two age keys, ssh-ed25519 and ssh-rsa. */
export interface ToolKeys {
  dir: string
  age: AgeKey
  /** A second age key: the wrong one for what `age` opens. */
  other: AgeKey
  ed25519: SshKey
  rsa: SshKey
}

export function makeToolKeys(label = 'vpo-keys'): ToolKeys {
  const dir = makeTempDir(label)
  return {
    dir,
    age: makeAgeKey(dir, 'key.txt'),
    other: makeAgeKey(dir, 'other.txt'),
    ed25519: makeSshKey(dir, 'ed25519'),
    rsa: makeSshKey(dir, 'rsa'),
  }
}

/** Deterministic bytes, so a failing size is reproducible. */
export function seededBytes(size: number, seed = 1): Buffer {
  const data = Buffer.alloc(size)
  let block = Buffer.alloc(0)
  for (let counter = 0, offset = 0; offset < size; offset += block.length, counter++) {
    block = crypto.createHash('sha512').update(`${seed}:${counter}`).digest()
    block.copy(data, offset)
  }

  return data
}

export function writePattern(file: string, size: number, seed = 1): Buffer {
  const data = seededBytes(size, seed)
  fs.writeFileSync(file, data, {mode: 0o600})
  return data
}
