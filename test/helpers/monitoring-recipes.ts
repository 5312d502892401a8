/**
 * The README's monitoring recipes, read as users copy them: each follows an HTML comment naming
 * it, `<!-- drop-in: NAME -->`, `<!-- crontab: NAME -->` or `<!-- prometheus-rules: NAME -->`.
 * (The plain `<!-- unit: -->` and `<!-- crontab -->` markers are automation-snippets.ts's.)
 */
import fs from 'node:fs'

import {AUTOMATION_README, parseUnit, readAutomationSnippets, unitCommands} from './automation-snippets.js'

export function readRecipe(kind: 'crontab' | 'drop-in' | 'prometheus-rules', name: string): string {
  const markdown = fs.readFileSync(AUTOMATION_README, 'utf8')
  const marker = new RegExp(`<!--\\s*${kind}:\\s*(\\S+)\\s*-->\\s*\\n\`\`\`[^\\n]*\\n([\\s\\S]*?)\\n\`\`\``, 'g')
  const found = [...markdown.matchAll(marker)].filter(([, recipe]) => recipe === name)
  if (found.length !== 1) throw new Error(`${AUTOMATION_README}: expected one ${kind} ${name}, found ${found.length}`)
  return `${found[0][2]}\n`
}

const EXEC = ['ExecStartPre', 'ExecStart', 'ExecStartPost'] as const

/**
 * The commands systemd runs for the README's service with a drop-in applied, in order: a drop-in's
 * empty `ExecStart=` clears the list before it, as systemd merges them.
 */
export function serviceWithDropIn(service: string, dropIn: string): string[][] {
  const unit = readAutomationSnippets().units.find((candidate) => candidate.name === service)
  if (!unit) throw new Error(`no unit ${service} in ${AUTOMATION_README}`)
  const lists = new Map<string, string[]>(EXEC.map((key) => [key, []]))
  for (const text of [unit.text, dropIn]) {
    for (const section of parseUnit(text)) {
      for (const [key, value] of section.entries) {
        const list = lists.get(key)
        if (!list) continue
        if (value === '') list.length = 0
        else list.push(value)
      }
    }
  }

  const merged = EXEC.flatMap((key) => lists.get(key)!.map((value) => `${key}=${value}`))
  return unitCommands(`[Service]\n${merged.join('\n')}\n`)
}
