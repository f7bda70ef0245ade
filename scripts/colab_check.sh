#!/usr/bin/env bash
# The Colab path, rehearsed: the chapters must run from the *installed package* alone.
#
# Builds the wheel, installs it into a fresh venv that has nothing but torch (as Colab has its
# own torch), copies two chapters (00 and the last) to a temporary folder outside the repository
# and executes them there in fast mode. It fails if a chapter needs a file of the repository
# (a checkpoint, an example, the committed Table I) that the wheel does not ship.
#
# Usage: bash scripts/colab_check.sh [python3]                (make colab-check: all of it)
#        bash scripts/colab_check.sh prepare DIR [python3]    the wheel and the venv, into DIR
#        bash scripts/colab_check.sh run DIR                  the chapters, with DIR's venv
# `make test` prepares while the project's own install runs and runs the chapters at the end.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MODE=all
case "${1:-}" in
    prepare|run)
        MODE="$1"
        [ -n "${2:-}" ] || { echo "colab_check.sh $1 needs a folder: colab_check.sh $1 DIR" >&2; exit 2; }
        TMP="$2"; mkdir -p "$TMP"; shift 2 ;;
    *)
        TMP="$(mktemp -d /tmp/udiffse-colab-XXXXXX)"
        trap 'rm -rf "$TMP"' EXIT ;;
esac
PYTHON="${1:-python3}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
start=$(date +%s)

if [ "$MODE" != run ]; then
"$PYTHON" -m pip wheel -q --no-deps --no-build-isolation -w "$TMP/dist" "$ROOT" 2>/dev/null \
    || "$PYTHON" -m pip wheel -q --no-deps -w "$TMP/dist" "$ROOT"
"$PYTHON" -m venv "$TMP/venv"
PIP="$TMP/venv/bin/python -m pip"
$PIP install -q --upgrade pip
$PIP install -q "$TORCH_SPEC"
# the wheel with its own dependencies, plus what Colab's runtime already has (a kernel, nbclient)
$PIP install -q "$TMP"/dist/*.whl ipykernel nbclient nbformat
"$TMP/venv/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null
echo "colab-check: wheel and torch-only venv ready in $(( $(date +%s) - start )) s"
fi
[ "$MODE" != prepare ] || exit 0
[ -x "$TMP/venv/bin/python" ] || { echo "colab-check: no prepared venv in $TMP (run: colab_check.sh prepare $TMP)" >&2; exit 2; }

rm -rf "$TMP/course"
mkdir "$TMP/course"
chapters=("00_setup" "$(cd "$ROOT/notebooks" && ls [0-9][0-9]_*.ipynb | sort | tail -1 | sed 's/\.ipynb$//')")
for c in "${chapters[@]}"; do cp "$ROOT/notebooks/$c.ipynb" "$TMP/course/"; done
cd "$TMP/course"
UDIFFSE_SIZE=fast "$TMP/venv/bin/python" - "${chapters[@]}" <<'EOF'
import sys, time
import nbformat
from nbclient import NotebookClient

import udiffse_lite
assert "site-packages" in udiffse_lite.__file__, f"not the installed wheel: {udiffse_lite.__file__}"
for name in sys.argv[1:]:
    nb = nbformat.read(f"{name}.ipynb", as_version=4)
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3").execute()  # raises on the first failing cell
    print(f"colab-check: {name} ran from the installed wheel in {time.perf_counter() - t0:.0f} s")
EOF
echo "colab-check: OK in $(( $(date +%s) - start )) s ($([ "$MODE" = run ] && echo "chapters only: the venv was prepared before" || echo "wheel, torch-only venv"), chapters outside the repository)"
