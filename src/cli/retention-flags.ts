import {Flags} from '@oclif/core'

import {type Duration} from '../lib/duration.js'
import {type RetentionPolicy, validatePolicy} from '../lib/repository/retention.js'
import {durationFlag} from './duration-flag.js'

const count = (summary: string) => Flags.integer({min: 0, summary, helpValue: 'N'})

/** The retention rules `library:prune` takes, and `library:backup` applies after a successful backup. */
export const retentionFlags = {
  'keep-last': count('Keep the N newest regular backups.'),
  'keep-daily': count('Keep the newest backup of each of the last N days that have one (UTC).'),
  'keep-weekly': count('Keep the newest backup of each of the last N ISO weeks that have one.'),
  'keep-monthly': count('Keep the newest backup of each of the last N months that have one.'),
  'keep-yearly': count('Keep the newest backup of each of the last N years that have one.'),
  'keep-within': durationFlag({summary: 'Keep every backup made within this long of now: 36h, 7d, 2w, 6m, 1y.'}),
}

type RetentionFlagValues = {[K in keyof typeof retentionFlags]?: K extends 'keep-within' ? Duration : number}

/** The policy the flags describe, or undefined when none was given. */
export function retentionPolicy(flags: RetentionFlagValues & {keep?: number}): RetentionPolicy | undefined {
  const policy: RetentionPolicy = {
    last: flags['keep-last'] ?? flags.keep,
    daily: flags['keep-daily'],
    weekly: flags['keep-weekly'],
    monthly: flags['keep-monthly'],
    yearly: flags['keep-yearly'],
    within: flags['keep-within'],
  }
  const given = Object.values(policy).some((value) => value !== undefined)
  if (!given) return undefined
  // Checked now, not when pruning: `library:backup --keep-daily 0` must be refused before a backup
  // is written, not after, with exit 2 and a backup the message does not mention.
  validatePolicy(policy)
  return policy
}
