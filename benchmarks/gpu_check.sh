#!/usr/bin/env bash
# Verify adlab's CUDA code paths on a machine with an NVIDIA GPU, from the repository root:
#   1. metric evaluation time, CPU threads vs CUDA (benchmarks/gpu_check.py);
#   2. the GPU tests (metrics CPU == CUDA, 'auto' on the GPU only once CUDA is started; anomalib
#      PatchCore/PaDiM fitted on cuda, CPU ONNX export vs the GPU model, a worker started with
#      --device cuda:0; tiny Qwen2.5-VL / LLaVA in bfloat16 on cuda; READ on cuda; the PatchCore
#      study on cuda) and the rest of the metrics test files they sit in;
#   3. `adlab demo --device cuda:0` (PatchCore + PaDiM, 2 categories, queue -> worker -> database),
#      with nvidia-smi sampled every 0.5 s as evidence that the work ran on the GPU.
#
#   benchmarks/gpu_check.sh [OUT_DIR]        (PYTHON=... to pick the interpreter; CPU_DEMO=1 also
#                                             runs the demo on the CPU to compare fit times;
#                                             TEST_TIMEOUT=seconds bounds the pytest step)
set -u -o pipefail
OUT=${1:-exports/gpu_check}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
status=0

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -lms 500 \
    > "$OUT/gpu_samples.csv" 2>/dev/null &
SMI=$!
trap 'kill $SMI 2>/dev/null' EXIT

echo "== metrics: cpu vs cuda"
$PY benchmarks/gpu_check.py --json-out "$OUT/metrics.json" 2>&1 | tee "$OUT/metrics.txt" || status=1

echo "== gpu tests"
timeout "${TEST_TIMEOUT:-1200}" $PY -m pytest -p no:cacheprovider -rs --durations=0 -q \
    tests/metrics/test_metrics_properties.py tests/metrics/test_metrics_device_choice.py \
    tests/pipelines/anomalib/test_cuda_training.py \
    tests/pipelines/mmad/test_mmad_cuda.py tests/pipelines/read/test_read_cuda.py \
    tests/pipelines/patchcore_study/test_cuda_study.py \
    2>&1 | tee "$OUT/pytest_gpu.log" || status=1

demo() {  # demo DEVICE: the demo in its own database, then one line per run from that database
    local dir="$OUT/demo_${1%%:*}" start
    start=$(date +%s.%N)
    ADLAB_DB="$dir/lab.db" ADLAB_ARTIFACTS="$dir/exports" $PY -m adlab demo --device "$1" \
        --out "$dir" > "$dir.log" 2>&1 || { status=1; tail -20 "$dir.log"; }
    echo "demo on $1: $(awk "BEGIN {printf \"%.1f\", $(date +%s.%N) - $start}") s wall (whole process)"
    ADLAB_DB="$dir/lab.db" $PY - <<'EOF'
from adlab.db.queries import list_runs, run_metrics
from adlab.settings import database_url
from adlab.db.engine import get_engine

engine = get_engine(database_url())
for run in list_runs(engine):
    m = {(x["key"], x["scope"]): x["value"] for x in run_metrics(engine, run_id=run.id)}
    cat = run.name.split("/")[-1]
    pick = {k: v for (k, s), v in m.items() if s != "" and k in
            ("fit_s", "export_s", "infer_ms_per_image", "image_auroc", "parity_map_max_abs")}
    print(f"  run {run.id} {run.name}: {run.status} on {run.device}; "
          + ", ".join(f"{k} {v:.4g}" for k, v in sorted(pick.items())))
EOF
}
echo "== demo through the worker"
mkdir -p "$OUT/demo_cuda" "$OUT/demo_cpu"
demo cuda:0
[ "${CPU_DEMO:-0}" = 1 ] && demo cpu
kill $SMI 2>/dev/null
awk -F', ' '{u=$2+0; m=$3+0; if (u>mu) mu=u; if (m>mm) mm=m; if (u>0) busy++} END {
    printf "nvidia-smi over the checks: %d samples, %d with GPU busy, peak %d %% util, peak %d MiB used\n",
    NR, busy, mu, mm}' "$OUT/gpu_samples.csv"
exit $status
