"""Runs a command on a terminal and types ANSWER at each prompt ending in
"password:", as a user would: programs such as htpasswd read a password
from the terminal only, and discard what was typed before they asked.
Prints what the terminal showed; exits with the command's status.

    python3 tests/typeat.py ANSWER COMMAND [ARG...]
"""
import os
import pty
import sys

answer, argv = sys.argv[1], sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
pending = b""
while True:
    try:
        data = os.read(fd, 1024)
    except OSError:  # the terminal closed with the command
        break
    if not data:
        break
    sys.stdout.buffer.write(data)
    pending += data
    if pending.rstrip().lower().endswith(b"password:"):
        os.write(fd, answer.encode() + b"\n")
        pending = b""
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
