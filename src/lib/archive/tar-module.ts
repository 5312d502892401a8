import type * as Tar from 'tar'

import {createRequire} from 'node:module'

let loaded: typeof Tar | undefined
/**
 * tar (with minipass and its other stream modules) costs milliseconds on every start-up, yet only
 * reading or writing an archive needs it: `--help` and listing an empty directory must not pay.
 */
export function tar(): typeof Tar {
  loaded ??= createRequire(import.meta.url)('tar') as typeof Tar
  return loaded
}
