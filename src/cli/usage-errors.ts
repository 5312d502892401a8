import {LibraryBackupError} from '../lib/errors.js'

/**
 * oclif's parse errors, made into one sentence like every other error: oclif spreads them over
 * lines ("Parsing --keep", a tab-indented reason, "See more help with --help") and prints the whole
 * usage after an unknown flag. The reason is kept in oclif's words; the hint names the command.
 */
export function usageErrorFromOclif(oclifMessage: string, commandId: string | undefined): LibraryBackupError {
  const lines = oclifMessage
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !/--help/.test(line) && !/^The following errors? occurred:?$/.test(line))
  const help = commandId ? `vpo ${commandId} --help` : '--help'
  return new LibraryBackupError('USAGE_ERROR', oneSentence(lines), {hint: `See ${help} for what it accepts.`})
}

function oneSentence(lines: string[]): string {
  const [first = 'The command line is not valid', ...rest] = lines
  const parsing = /^Parsing (--[\w-]+)$/.exec(first)
  const reason = rest.map((line) => line.replace(/[.:]$/, '')).join('; ')
  const text = parsing ? `${parsing[1]}: ${lowerFirst(reason)}` : rest.length > 0 ? `${first} ${reason}` : first
  // "…received: 0" reads as "…received 0"; "Missing 1 required arg: x" keeps its colon.
  return text
    .replace(/ but received: /, ' but received ')
    .replaceAll(/\s+/g, ' ')
    .replace(/[.:;]$/, '')
}

function lowerFirst(text: string): string {
  return /^[A-Z][a-z]/.test(text) ? text[0].toLowerCase() + text.slice(1) : text
}

/**
 * Our own error from a flag's parse (an invalid --max-age), in its own words: oclif rewrites the
 * message of whatever a flag's parse throws into "Parsing --flag", a tab-indented reason and
 * "See more help with --help", which the sentence and the JSON message must not carry.
 */
export function asTheFlagSaidIt(error: LibraryBackupError): LibraryBackupError {
  const wrapped = /^Parsing --[\w-]+ \n\t([\s\S]*)\nSee more help with --help$/.exec(error.message)
  if (!wrapped) return error
  return new LibraryBackupError(error.code, wrapped[1], {cause: error.cause, hint: error.hint})
}
