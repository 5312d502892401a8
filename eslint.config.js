import {includeIgnoreFile} from '@eslint/compat'
import oclif from 'eslint-config-oclif'
import prettier from 'eslint-config-prettier'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const gitignorePath = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '.gitignore')

export default [
  includeIgnoreFile(gitignorePath),
  ...oclif,
  prettier,
  {
    rules: {
      // Numbered exit codes and byte sizes are the product's vocabulary, not magic.
      'no-await-in-loop': 'off',
      'unicorn/no-process-exit': 'off',
      'n/no-process-exit': 'off',
      'perfectionist/sort-objects': 'off',
      'perfectionist/sort-object-types': 'off',
      'perfectionist/sort-interfaces': 'off',
      'perfectionist/sort-classes': 'off',
      'perfectionist/sort-union-types': 'off',
      'perfectionist/sort-modules': 'off',
      'no-warning-comments': 'off',
      // The archive metadata and --json output are snake_case by specification.
      camelcase: 'off',
      'perfectionist/sort-switch-case': 'off',
      'perfectionist/sort-sets': 'off',
      'jsdoc/require-yields': 'off',
    },
  },
  {
    files: ['test/**/*.ts', 'scripts/**/*.ts'],
    rules: {
      'no-unused-expressions': 'off',
      '@typescript-eslint/no-unused-expressions': 'off',
      'mocha/no-setup-in-describe': 'off',
      'n/no-unsupported-features/node-builtins': 'off',
      'unicorn/no-process-exit': 'off',
      'no-console': 'off',
      // Seeded PRNGs and byte surgery on archives are bit-twiddling by nature.
      'no-bitwise': 'off',
      'no-return-assign': 'off',
      'no-promise-executor-return': 'off',
      'unicorn/consistent-function-scoping': 'off',
      'max-depth': 'off',
      complexity: 'off',
    },
  },
]
