#!/usr/bin/env bash
# The GPU check of issue 16 (docs/benchmarks.md, "GPU check"). Run from anywhere in the repository on a
# CUDA machine with its own torch, nothing installed:
#
#     OUT=/path/to/folder PYTHONPATH=. bash benchmarks/gpu_check.sh
#
# It runs the device-aware core tests on CUDA (pytest --device cuda), times generate (paper and the
# shipped models, fp32 and bf16, batch 1 and 64) and train_step (bf16 and fp32), tries a 2-process NCCL
# DDP smoke run on one GPU, and writes every figure to $OUT/gpu_check.json (plus pytest.txt and
# nvidia-smi.txt). Under 8 minutes: the driver starts no section after BUDGET_S (default 420) seconds
# and the whole run is stopped at 470 s; the JSON is rewritten after each section, so a cut run keeps
# what it measured. DEVICE=cpu QUICK=1 runs the same driver on a CPU with tiny sizes (to test it).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:?set OUT to a writable folder}
mkdir -p "$OUT"
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}"
export QT_QPA_PLATFORM=offscreen
export LAYOUT2IM_CACHE_DIR="$OUT/precision-cache"  # the policy's timings stay with the report
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
{ nvidia-smi || echo "no nvidia-smi"; } > "$OUT/nvidia-smi.txt" 2>&1
start=$(date +%s)
timeout --signal=TERM --kill-after=10 470 "$PY" benchmarks/gpu_check.py --device "$DEVICE" \
    --out "$OUT/gpu_check.json" --budget-s "${BUDGET_S:-420}" ${QUICK:+--quick}
rc=$?
echo "gpu_check.sh: exit $rc after $(( $(date +%s) - start )) s; figures in $OUT/gpu_check.json"
exit $rc
