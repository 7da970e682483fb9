#!/usr/bin/env bash
# Everything a GPU can tell us, in phases of under 10 minutes each (about 40 in all on an
# H100), results with the GPU, driver, versions and date:
#
#   bench/gpu_check.sh [--cpu] [--out DIR] PHASE [PHASE ...]
#
# PHASE: tests | train-fp32 | train-tf32 | train-bf16 | bench-kernels | bench-steps |
#        bench-compiled | report | all
#   tests           the test suite on CUDA (kernels on the GPU, not the interpreter)
#   train-PRECISION every backend x kernels from the command line, a resume halfway,
#                   each checked finite and close to eager (bench/train_matrix.py)
#   bench-*         pytest bench/ at GPU sizes, in three parts
#   report          DIR/RESULTS.md from what the phases left in DIR; on a GPU also
#                   bench/RESULTS.md
# --cpu: the same sequence at CPU sizes, as a dry run (CI runs it, so this cannot rot).
# --out: where results and the log go (default: $OUT if set, else bench/gpu-check).
# Phases append to DIR/gpu_check.log; a phase's failure is logged and the next one runs;
# the exit code is non-zero if any phase failed.
#
# On the lent GPU machines (no network; torch 2.11, triton 3.6, Python 3.12):
#   pip install --no-deps --no-build-isolation -e . && bench/gpu_check.sh tests train-fp32
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
CPU=0
OUTDIR=${OUT:-bench/gpu-check}
PHASES=()
while [ $# -gt 0 ]; do
    case "$1" in
        --cpu) CPU=1 ;;
        --out) OUTDIR=$2; shift ;;
        all) PHASES+=(tests train-fp32 train-tf32 train-bf16 bench-kernels bench-steps bench-compiled report) ;;
        tests|train-fp32|train-tf32|train-bf16|bench-kernels|bench-steps|bench-compiled|report) PHASES+=("$1") ;;
        *) echo "error: unknown argument $1; see the comment at the top of bench/gpu_check.sh" >&2; exit 2 ;;
    esac
    shift
done
[ ${#PHASES[@]} -gt 0 ] || { echo "error: name a phase (tests, train-fp32, ..., report, all)" >&2; exit 2; }
mkdir -p "$OUTDIR"
LOG="$OUTDIR/gpu_check.log"
if [ $CPU = 1 ]; then
    BENCH_DEVICE=(--bench-device cpu --bench-quick); SIZES=(--cpu)
else
    BENCH_DEVICE=(--bench-device cuda); SIZES=()
    "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" || {
        echo "error: no CUDA device is visible; use --cpu for the dry run" >&2; exit 2; }
fi

phase() {   # phase NAME COMMAND...: run, time and log one phase
    local name=$1; shift
    echo "== $name: $(date -u +%FT%TZ) $*" | tee -a "$LOG"
    local start=$SECONDS
    "$@" 2>&1 | tee -a "$LOG"
    local code=${PIPESTATUS[0]}
    echo "== $name: exit $code after $((SECONDS - start)) s" | tee -a "$LOG"
    echo "$name $code $((SECONDS - start))" >> "$OUTDIR/phases.txt"
    [ "$code" = 0 ] || FAILED=1
}

FAILED=0
"$PY" - <<'EOF' | tee -a "$LOG"
import datetime, platform, torch, triton
gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
print(f"machine: {platform.node()}, GPU {gpu}, torch {torch.__version__} (CUDA {torch.version.cuda}), "
      f"triton {triton.__version__}, Python {platform.python_version()}, {datetime.date.today()}")
EOF
for p in "${PHASES[@]}"; do
    case "$p" in
        tests)
            if [ $CPU = 1 ]; then   # CI runs the whole suite already; here only the phase's plumbing
                phase tests "$PY" -m pytest -q tests/test_kernels_equilibrium.py tests/test_devices.py \
                    --junitxml="$OUTDIR/tests.xml"
            else
                phase tests "$PY" -m pytest -q tests/ --junitxml="$OUTDIR/tests.xml"
            fi ;;
        train-*)
            phase "$p" "$PY" bench/train_matrix.py --precision "${p#train-}" --out "$OUTDIR" "${SIZES[@]}" ;;
        bench-kernels)
            phase "$p" "$PY" -m pytest -q bench/test_kernels.py "${BENCH_DEVICE[@]}" \
                --benchmark-json="$OUTDIR/bench-kernels.json" ;;
        bench-steps)
            phase "$p" "$PY" -m pytest -q bench/test_step.py -k "not compile" "${BENCH_DEVICE[@]}" \
                --benchmark-json="$OUTDIR/bench-steps.json" ;;
        bench-compiled)
            phase "$p" "$PY" -m pytest -q bench/test_step.py -k compile "${BENCH_DEVICE[@]}" \
                --benchmark-json="$OUTDIR/bench-compiled.json" ;;
        report)
            phase report "$PY" -m bench.gpu_report "$OUTDIR" $([ $CPU = 1 ] || echo --to bench/RESULTS.md) ;;
    esac
done
exit $FAILED
