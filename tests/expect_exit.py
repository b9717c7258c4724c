#!/usr/bin/python3
"""Runs a command and checks how it ends: its exit code, how long it took, and what it printed.

For tests whose command is expected to fail or skip in a particular way (ctest's WILL_FAIL accepts any failure,
including a hang ended by the timeout, and PASS_REGULAR_EXPRESSION ignores the exit code):

    tests/expect_exit.py --code 77 -- COMMAND ...             # the command reports a skip, nothing else
    tests/expect_exit.py --nonzero --within 60 --contains 'rank 1' -- mpirun ...   # fails, fast, naming rank 1

Exits 0 when every expectation holds, 1 otherwise (with the command's output and the reason).
"""
import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def kill_session(session_id):
    """SIGKILLs what is left of the session started for the command (mpirun's ranks included), by session id."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == session_id:  # fields after the name: state ppid pgrp session ...
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, IndexError, ValueError):
            pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    outcome = parser.add_mutually_exclusive_group(required=True)
    outcome.add_argument("--code", type=int, help="the exact exit code expected")
    outcome.add_argument("--nonzero", action="store_true", help="any non-zero exit code (a failure)")
    parser.add_argument("--within", type=float, default=300.0,
                        help="seconds the command may take; it is killed and the check fails past them")
    parser.add_argument("--contains", action="append", default=[], help="text the output (stdout + stderr) must hold")
    parser.add_argument("--lacks", action="append", default=[], help="text the output must not hold")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ARGS...")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given (after --)")

    start = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    timed_out = False
    try:
        output, _ = proc.communicate(timeout=args.within)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)  # the command's process group (mpirun)
        kill_session(proc.pid)  # and whatever else of its session is left (the ranks)
        output, _ = proc.communicate()
    elapsed = time.monotonic() - start
    print(output, end="" if output.endswith("\n") else "\n")
    print(f"--- {' '.join(command)}: exit code {proc.returncode}, {elapsed:.1f} s")

    problems = []
    if timed_out:
        problems.append(f"did not finish within {args.within:g} s (killed)")
    elif args.nonzero and proc.returncode == 0:
        problems.append("exit code 0, expected a failure")
    elif args.code is not None and proc.returncode != args.code:
        problems.append(f"exit code {proc.returncode}, expected {args.code}")
    problems += [f"the output does not contain {text!r}" for text in args.contains if text not in output]
    problems += [f"the output contains {text!r}" for text in args.lacks if text in output]
    for problem in problems:
        print(f"FAIL: {problem}")
    if not problems:
        print("PASS: the command ended as expected")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
