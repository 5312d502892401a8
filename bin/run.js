#!/usr/bin/env node

import {execute} from '@oclif/core'

// In a host CLI, `vpo help …` is @oclif/plugin-help's; a checkout loads no plugins outside
// development (oclif only loads devPlugins from bin/dev.js), so `help X` is answered as `X --help`.
const [first, ...rest] = process.argv.slice(2)
const args = first === 'help' ? [...rest.filter((arg) => arg !== '--'), '--help'] : undefined

await execute({args, dir: import.meta.url})
