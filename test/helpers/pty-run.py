#!/usr/bin/env python3
"""Runs a command on a real pseudo-terminal, as a person at a terminal would.

    python3 test/helpers/pty-run.py SPEC_JSON

SPEC_JSON: {"argv": [...], "env": {...}, "cwd": "...", "prompt": "[y/N]", "answer": "y",
"timeout": 30}. stdin, stdout and stderr of the command are the terminal's slave side. When the
prompt text appears in the output, the answer (plus Enter) is typed. Prints one JSON object:
{"output": everything the terminal showed, "code": exit code or null, "signal": signal or null,
"prompted": whether the prompt appeared, "timed_out": bool}.
"""
import errno
import json
import os
import pty
import select
import signal
import sys
import time


def main() -> None:
    spec = json.loads(sys.argv[1])
    prompt = spec.get('prompt', '[y/N]').encode()
    answer = spec.get('answer')
    deadline = time.monotonic() + float(spec.get('timeout', 30))

    pid, master = pty.fork()
    if pid == 0:  # child: the pty is already its controlling terminal and stdio
        try:
            if spec.get('cwd'):
                os.chdir(spec['cwd'])
            os.execvpe(spec['argv'][0], spec['argv'], spec.get('env') or dict(os.environ))
        finally:
            os._exit(127)

    output = b''
    prompted = False
    timed_out = False
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            os.kill(pid, signal.SIGKILL)
            break
        ready, _, _ = select.select([master], [], [], min(remaining, 0.2))
        if not ready:
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError as error:  # EIO: the child closed the terminal (it exited)
            if error.errno == errno.EIO:
                break
            raise
        if not chunk:
            break
        output += chunk
        if not prompted and prompt in output:
            prompted = True
            if answer is not None:
                os.write(master, answer.encode() + b'\r')

    _, status = os.waitpid(pid, 0)
    os.close(master)
    print(json.dumps({
        'output': output.decode('utf-8', 'replace'),
        'code': os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        'signal': os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        'prompted': prompted,
        'timed_out': timed_out,
    }))


if __name__ == '__main__':
    main()
