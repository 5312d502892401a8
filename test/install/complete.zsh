#!/usr/bin/env zsh
# Completes a command line in a real interactive zsh, as when the user presses TAB at its end:
# an interactive `zsh -f` runs in a pseudo-terminal (zsh/zpty), evaluates what
# `vpo autocomplete:script zsh` prints (the line a user puts in ~/.zshrc: it puts oclif's
# completion functions on fpath and runs compinit), then receives the line and a TAB. A compadd
# wrapper prints every candidate the completion system offers instead of showing a menu.
#
# Prints one line per candidate: the command line as it would read after choosing it.
#   usage: zsh -f complete.zsh 'vpo library:b'
emulate -L zsh
zmodload zsh/zpty || { print -u2 'zsh/zpty is not available'; exit 90 }
line=$1
setup=$(vpo autocomplete:script zsh) || { print -u2 'vpo autocomplete:script zsh failed'; exit 91 }

tmp=$(mktemp -d) || exit 92
trap 'zpty -d comp 2>/dev/null; rm -rf $tmp' EXIT
print -r -- "$setup" > $tmp/setup.zsh
cat > $tmp/init.zsh <<'INIT'
PROMPT=''
RPROMPT=''
unsetopt zle_bracketed_paste 2>/dev/null
source $VPO_COMPLETE_TMP/setup.zsh
zstyle ':completion:*' list-grouped false
zstyle ':completion:*' insert-tab false
zstyle ':completion:*' completer _complete
mark() { print -rn -- $'\x1e' }
compprefuncs=( mark )
comppostfuncs=( mark exit )
# Report what the completion system would insert for each match, with the prefixes (IPREFIX,
# -P/-p) and suffixes (-S/-s) compadd was given.
compadd() {
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then
    builtin compadd "$@"
    return $?
  fi
  local -a __hits __P __p __S __s
  builtin compadd -A __hits "$@"
  zparseopts -E -a __ignored P:=__P p:=__p S:=__S s:=__s
  local hit
  for hit in $__hits; do
    print -r -- "@@${IPREFIX}${__P[2]}${__p[2]}${hit}${__s[2]}"
  done
}
bindkey '^I' complete-word
print -r -- ready
INIT

export VPO_COMPLETE_TMP=$tmp
zpty comp zsh -f -i
zpty -w comp "source $tmp/init.zsh"
ready=0
repeat 200; do
  zpty -r -t comp out || { sleep 0.05; continue }
  [[ $out == *ready* && $out != *print* ]] && { ready=1; break }
done
(( ready )) || { print -u2 'zsh did not start'; exit 93 }

zpty -w -n comp "$line"$'\t'
buffer=''
integer marks=0
repeat 600; do
  if zpty -r -t comp chunk; then
    buffer+=$chunk
    [[ ${buffer//[^$'\x1e']/} == $'\x1e'$'\x1e' ]] && break
  else
    sleep 0.05
  fi
done
# The word being completed starts after the last space (oclif's zsh functions complete whole words).
prefix=${line% *}
[[ $prefix == $line ]] && prefix='' || prefix="$prefix "
for entry in ${(f)buffer}; do
  entry=${entry%$'\r'}
  [[ $entry == *@@* ]] || continue
  print -r -- "$prefix${entry#*@@}"
done
