import {Flags} from '@oclif/core'

import {type Duration, parseDuration} from '../lib/duration.js'

/**
 * A flag that takes a span of time (`26h`, `7d`, `1y6m`: --max-age, --keep-within), parsed by oclif
 * so that run() gets a Duration. A bad value is a usage error (exit 2) that quotes it, raised
 * while the command line is parsed, before anything is done.
 */
export function durationFlag(options: {summary: string}) {
  return Flags.custom<Duration>({...options, helpValue: 'DURATION', parse: async (text) => parseDuration(text)})()
}
