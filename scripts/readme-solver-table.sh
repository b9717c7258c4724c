#!/usr/bin/env bash
# Rewrites the README's solver table (between the solver-table markers) from `nmf_mpi --list-solvers`, which
# builds it from the options each solver declares. Usage: scripts/readme-solver-table.sh [path/to/nmf_mpi]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
binary="${1:-${NMF_BUILD_DIR:-$root/build}/nmf_mpi}"
table=$("$binary" --list-solvers)
TABLE="$table" /usr/bin/python3 - "$root/README.md" <<'PY'
import os, re, sys
path = sys.argv[1]
text = open(path).read()
begin, end = "<!-- solver-table:begin -->", "<!-- solver-table:end -->"
i, j = text.index(begin) + len(begin), text.index(end)
open(path, "w").write(text[:i] + "\n" + os.environ["TABLE"].rstrip("\n") + "\n" + text[j:])
PY
