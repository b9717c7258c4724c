#!/usr/bin/env python3
"""Command-line tests of nmf_mpi (placeholder; filled in by the CLI test suite)."""
import sys
if __name__ == "__main__":
    if sys.argv[1:] == ["--list"]:
        sys.exit(0)
