import {Flags} from '@oclif/core'

import {DEFAULT_MAX_SHRINK_PERCENT, parseMaxShrink} from '../lib/repository/shrink-guard.js'
import {type ShrinkOptions} from '../lib/repository/shrink-runs.js'

/** The shrink guard's flags, on `library:backup` and `library:prune`. */
export const shrinkFlags = {
  'max-shrink': Flags.string({
    summary: `The share of its files the library may lose since the last backup before a drop (default ${DEFAULT_MAX_SHRINK_PERCENT}%); 100% turns the shrink guard off.`,
    description:
      'A bigger drop makes library:backup exit 11 without pruning, and keeps the last backup before the drop from every prune until --accept-shrink.',
    helpValue: 'PERCENT',
  }),
  'accept-shrink': Flags.boolean({
    summary: 'The library shrank on purpose: prune as usual, and compare with the new size from now on.',
  }),
}

export function shrinkOptions(
  flags: {'accept-shrink'?: boolean; 'max-shrink'?: string},
  dataDir: string,
): ShrinkOptions {
  return {
    dataDir,
    maxShrinkPercent:
      flags['max-shrink'] === undefined ? DEFAULT_MAX_SHRINK_PERCENT : parseMaxShrink(flags['max-shrink']),
    accept: flags['accept-shrink'],
  }
}
