import type {Command} from '@oclif/core'

/**
 * A command's help examples from [what it does, its flags and arguments] pairs: every example runs
 * the command itself, so the `<%= config.bin %> <%= command.id %>` oclif expands is written once.
 */
export function commandExamples(examples: Array<[description: string, args: string]>): Command.Example[] {
  return examples.map(([description, args]) => ({
    description,
    command: ['<%= config.bin %> <%= command.id %>', args].filter(Boolean).join(' '),
  }))
}
