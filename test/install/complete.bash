#!/usr/bin/env bash
# Completes a command line the way interactive bash does when the user presses TAB at its end:
# loads Debian's bash-completion, evaluates what `vpo autocomplete:script bash` prints (the line a
# user puts in ~/.bashrc), finds the function `complete -p vpo` registered, splits the line into
# COMP_WORDS with COMP_WORDBREAKS as readline does (so `library:b` is `library` `:` `b`), sets
# COMP_WORDS/COMP_CWORD/COMP_LINE/COMP_POINT and calls the function with the arguments bash passes.
#
# Prints one line per candidate: the command line as it would read after choosing it.
#   usage: complete.bash 'vpo library:b'
set -u
line=$1

# shellcheck disable=SC1091
source /usr/share/bash-completion/bash_completion || { echo "cannot load bash-completion" >&2; exit 90; }
setup=$(vpo autocomplete:script bash) || { echo "vpo autocomplete:script bash failed" >&2; exit 91; }
eval "$setup"
spec=$(complete -p vpo 2>/dev/null) || { echo "nothing registered for vpo by: $setup" >&2; exit 92; }
func=$(sed -n 's/.* -F \([^ ]*\) .*/\1/p' <<<"$spec")
[[ -n $func ]] || { echo "no completion function in: $spec" >&2; exit 93; }

breaks=${COMP_WORDBREAKS//[[:space:]]/}
words=()
word=''
kind=''
# Readline replaces only the text after the last space or word-break character: after
# `vpo library:` that is nothing, though COMP_WORDS ends with the word `:`.
replace_from=0
for ((i = 0; i < ${#line}; i++)); do
  c=${line:i:1}
  if [[ $c == [[:space:]] ]]; then
    [[ -n $word ]] && words+=("$word")
    word=''
    kind=''
    replace_from=$((i + 1))
  else
    if [[ $breaks == *"$c"* ]]; then
      k=break
      replace_from=$((i + 1))
    else
      k=text
    fi
    if [[ -n $word && $k != "$kind" ]]; then
      words+=("$word")
      word=''
    fi
    word+=$c
    kind=$k
  fi
done
words+=("$word") # the word under the cursor; empty after a space

COMP_WORDS=("${words[@]}")
COMP_CWORD=$((${#words[@]} - 1))
COMP_LINE=$line
COMP_POINT=${#line}
COMP_TYPE=9
COMP_KEY=9
COMPREPLY=()
"$func" "${words[0]}" "${words[COMP_CWORD]}" "${words[COMP_CWORD - 1]}"

prefix=${line:0:replace_from}
for candidate in "${COMPREPLY[@]}"; do
  printf '%s%s\n' "$prefix" "$candidate"
done
