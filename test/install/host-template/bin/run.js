#!/usr/bin/env node

// eslint-disable-next-line n/no-extraneous-import -- the host installs @oclif/core at test time
import {execute} from '@oclif/core'

await execute({dir: import.meta.url})
