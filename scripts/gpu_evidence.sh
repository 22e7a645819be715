#!/usr/bin/env bash
# GPU evidence in one prepared run: the ci profile on keras3-torch and keras3-jax, in
# both precisions, plus a survey of the errors that justify harness/tolerance.py.
#
#   scripts/gpu_evidence.sh OUT_DIR [BUDGET_S]
#
# Everything runs at once (4 runs x WORKERS pytest workers + 4 surveys; 16 cores make
# that fit). GPU time is scarce, so each run gets BUDGET_S seconds of wall clock and is
# then interrupted: `rnn-harness run` writes a report of what finished and marks the
# rest "not run" (nothing is lost). Failures are not shrunk (--no-shrink) for the same
# reason; each still carries its first counterexample and a reproducer.
#
# Needs: python3 with the backends (CUDA builds), keras, hypothesis, pytest-xdist, rich,
# jinja2, matplotlib. rnn-harness itself is taken from this checkout (no install).
# Tried on a CPU first: `WORKERS=1 SURVEY_EXAMPLES=5 scripts/gpu_evidence.sh /tmp/ev 60`.
set -u
USAGE="usage: scripts/gpu_evidence.sh OUT_DIR [BUDGET_S]  (OUT_DIR: a folder for the reports; BUDGET_S: seconds per run, default 420)"
case "${1:-}" in
    -h|--help) echo "$USAGE"; exit 0 ;;
    -*) echo "scripts/gpu_evidence.sh: unknown option $1; $USAGE" >&2; exit 2 ;;
    "") echo "scripts/gpu_evidence.sh: expected OUT_DIR; $USAGE" >&2; exit 2 ;;
esac
if [ -n "${2:-}" ] && ! [[ "$2" =~ ^[0-9]+$ ]]; then
    echo "scripts/gpu_evidence.sh: expected BUDGET_S in whole seconds. Received: $2; $USAGE" >&2
    exit 2
fi
OUT_DIR=$1
BUDGET_S=${2:-420}
WORKERS=${WORKERS:-3}
SURVEY_EXAMPLES=${SURVEY_EXAMPLES:-40}
PY=${PYTHON:-python3}
TARGETS=${TARGETS:-"torch jax"}
REPO=$(cd "$(dirname "$0")/.." && pwd)

mkdir -p "$OUT_DIR"
cd "$REPO" || exit 2
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
# Without an install there is no pytest11 entry point: name the plugin instead.
if ! "$PY" -c 'import importlib.metadata as m, sys
sys.exit(not any(e.value == "harness.pytest_plugin" for e in m.entry_points(group="pytest11")))'; then
    export PYTEST_PLUGINS=harness.pytest_plugin
fi
export TF_CPP_MIN_LOG_LEVEL=3 PYTHONUNBUFFERED=1
export XLA_PYTHON_CLIENT_PREALLOCATE=false  # several JAX processes share one GPU

{
    date -u +"%Y-%m-%dT%H:%M:%SZ"
    nvidia-smi || echo "no nvidia-smi"
    "$PY" -c 'import sys, importlib.metadata as m
print("python", sys.version.split()[0])
for name in ("keras", "torch", "jax", "jaxlib", "jax-cuda13-plugin", "jax-cuda12-plugin",
             "numpy", "hypothesis", "pytest", "pytest-xdist"):
    try: print(name, m.version(name))
    except m.PackageNotFoundError: pass'
} >"$OUT_DIR/environment.txt" 2>&1
cat "$OUT_DIR/environment.txt"

started=$(date +%s)
for backend in $TARGETS; do
    for precision in strict native; do
        name="$backend-$precision"
        timeout -s INT "$BUDGET_S" "$PY" scripts/survey_reference_error.py \
            --target "keras3-$backend" --precision "$precision" \
            --examples "$SURVEY_EXAMPLES" --json "$OUT_DIR/survey-$name.json" \
            >"$OUT_DIR/survey-$name.log" 2>&1 &
        timeout -s INT "$BUDGET_S" "$PY" -m harness run --targets "keras3-$backend" \
            --precision "$precision" --profile ci -n "$WORKERS" --no-shrink \
            --out "$OUT_DIR/gpu-$name" \
            >"$OUT_DIR/run-$name.log" 2>&1 &
    done
done
wait
echo "all runs done in $(($(date +%s) - started)) s"

for log in "$OUT_DIR"/survey-*.log; do tail -n 3 "$log"; done
for log in "$OUT_DIR"/run-*.log; do
    echo "== $log"
    grep -E "^(summary|gate|rnn-harness: interrupted)" "$log" || tail -n 5 "$log"
done
