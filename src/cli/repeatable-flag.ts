import {Flags} from '@oclif/core'

type StringFlagOptions = Omit<
  NonNullable<Parameters<typeof Flags.string>[0]>,
  'default' | 'multiple' | 'multipleNonGreedy' | 'required'
>

/**
 * A flag given once per value (`--identity A --identity B`). oclif's plain `multiple` keeps taking
 * the words after the flag as more values, so `restore --identity key.txt BACKUP` lost its BACKUP;
 * non-greedy, each occurrence takes exactly one value and the next word is an argument again.
 */
export function repeatableFlag(options: StringFlagOptions) {
  return Flags.string({...options, multiple: true, multipleNonGreedy: true})
}
