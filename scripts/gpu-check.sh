#!/usr/bin/env bash
# On a bare GPU machine: install the carried wheels in .whl/ (no network: --no-index) into a
# folder of their own, then run the GPU check. The table is printed and kept, with the JSON, in
# $OUT (the lent machine's output folder) or else data/gpucheck/. Options go to gpucheck
# (--quick, --dry-run). Usage: bash scripts/gpu-check.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
SITE=${SITE:-/tmp/thesis-gpucheck-site}
if compgen -G ".whl/*.whl" >/dev/null; then
    "$PYTHON" -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$SITE" .whl/*.whl
    export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
    echo "gpu-check: no .whl/*.whl here: using what is installed (scripts/gpu-wheels.sh fetches them)" >&2
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
out=${OUT:-data/gpucheck}
mkdir -p "$out"
nvidia-smi -L 2>/dev/null || true
export PYTHONUNBUFFERED=1
"$PYTHON" -m thesis_lib gpucheck --out "$out/gpucheck.json" "$@" 2>&1 | tee "$out/gpucheck.txt"
# The loader roofline's primitives of this machine (issue 20), beside the check: synthetic images,
# as no dataset travels here. A library the carried wheels lack ends it, said so; the check stands.
quick=$([[ " $* " == *" --quick "* ]] && echo --quick || true)
"$PYTHON" -m thesis_lib roofline measure --out "$out/profile.json" $quick 2>&1 | tee "$out/profile.txt" \
    || echo "gpu-check: roofline measure failed here (see $out/profile.txt); the GPU check above stands" >&2
