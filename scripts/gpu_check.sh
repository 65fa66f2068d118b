#!/usr/bin/env bash
# One prepared GPU check for issue #13's closing note: speed (fp32/bf16, 1024x1024 and 1600x1280 output,
# fps by batch), bf16 PSNR against fp32, and the device tests on the GPU. Writes $OUT/gpu_check_summary.txt
# (and the full log beside it) when $OUT is set, else ./out/gpu_check/.
#
# Run from the repository root, in ONE device call (the whole check is sized for ~10 minutes on an H200):
#   bash scripts/gpu_check.sh --budget 540          # device run with timeout_s 600
#   bash scripts/gpu_check.sh --dry-run             # here, on CPU: the same steps, tiny sizes, < 2 minutes
# Options: --budget SECONDS (wall time for everything; the tests get what the benchmarks leave, at least
# 60 s), --device cuda|cuda:N, --repeats N (bench repeats, default 5), --dry-run.
#
# Environment, found not installed: $VTOONIFY_PYTHON, else .venv/bin/python (scripts/setup_env.sh) when its
# torch sees a GPU, else python3 (the GPU image's python3 holds a CUDA torch). Wheels for what that Python
# lacks may travel in .whl/ (carry it; installed with --no-index into a temp folder, nothing downloaded).
# The engine's benchmarks need only torch and numpy; the tests need pytest (+ pytest-timeout, hypothesis).
# Goldens: $VTOONIFY_SHARED, else ../shared, else .gpu_shared/ (made by scripts/gpu_shared.py and carried; a
# call carries 64 MiB, so one run checks one set: the parity goldens (54 MB), or with --weights-only the
# weights the backend, training and worker tests build their models from (51 MB; training also needs the
# OpenImageIO wheel in .whl/). A test file whose golden files are not there is left out, and said so).
# Without a CUDA GPU (and without --dry-run) it says so and exits 3 at once.
set -uo pipefail
cd "$(dirname "$0")/.."
budget=540 device=cuda repeats=5 dry=0
while [ $# -gt 0 ]; do
  case "$1" in
    --budget) budget=$2; shift ;;
    --device) device=$2; shift ;;
    --repeats) repeats=$2; shift ;;
    --dry-run) dry=1 ;;
    *) echo "gpu_check: unknown option $1 (use --budget S, --device D, --repeats N, --dry-run)" >&2; exit 2 ;;
  esac
  shift
done
start=$(date +%s)
out=${OUT:-out/gpu_check}
mkdir -p "$out"
log="$out/gpu_check_log.txt" summary="$out/gpu_check_summary.txt"
: >"$log"; : >"$summary"
say() { echo "$*" | tee -a "$summary"; }
left() { echo $(( budget - ($(date +%s) - start) )); }

# -- environment ---------------------------------------------------------------------------------------
if [ -n "${VTOONIFY_PYTHON:-}" ]; then py=$VTOONIFY_PYTHON
elif [ -x .venv/bin/python ] && { [ $dry = 1 ] || .venv/bin/python -c 'import torch,sys; sys.exit(not torch.cuda.is_available())' 2>/dev/null; }; then
  py=.venv/bin/python
else py=python3; fi
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/vtoonify-site .whl/*.whl \
    && export PYTHONPATH="/tmp/vtoonify-site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if [ $dry = 1 ]; then
  device=cpu; repeats=1; sizes="32 40x32"; batches=1,2
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
else
  sizes="256 400x320" batches=1,2,4,8,16,32
fi
say "== gpu_check $(date -u +%FT%TZ) python=$py device=$device budget=${budget}s dry_run=$dry"
if ! "$py" - "$device" <<'PY' 2>&1 | tee -a "$summary"; then
import sys
try:
    import torch
except ImportError as exc:
    sys.exit(f"no torch in this Python ({exc}): set VTOONIFY_PYTHON or carry wheels in .whl/")
device = sys.argv[1]
print(f"torch {torch.__version__} cuda {torch.version.cuda} cudnn {torch.backends.cudnn.version()}")
if device != "cpu":
    if not torch.cuda.is_available():
        sys.exit(f"no CUDA GPU visible to torch {torch.__version__}: nothing to check here (use --dry-run on CPU)")
    index = torch.device(device).index or 0
    p = torch.cuda.get_device_properties(index)
    print(f"gpu {p.name} sm_{p.major}{p.minor} {p.total_memory / 2**30:.0f} GiB, bf16 {torch.cuda.is_bf16_supported()}")
missing = []
for name in ("numpy", "pytest", "pytest_timeout", "hypothesis", "cv2", "av", "OpenImageIO", "dlib"):
    try:
        __import__(name)
    except Exception:
        missing.append(name)
print("python packages missing here: " + (", ".join(missing) or "none"))
PY
  say "gpu_check: stopped (see above)"; exit 3
fi
[ $dry = 1 ] || nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 | tee -a "$summary"

# -- speed ---------------------------------------------------------------------------------------------
for size in $sizes; do
  for precision in fp32 bf16; do
    [ "$(left)" -gt 60 ] || { say "bench $size $precision: skipped, budget spent"; continue; }
    echo "== bench_inference --size $size --precision $precision" >>"$log"
    line=$(timeout "$(left)" "$py" benchmarks/bench_inference.py --device "$device" --size "$size" \
             --precision "$precision" --repeats "$repeats" 2>&1 | tee -a "$log" | grep -E '^ *(fast|reference):|^speedup:' | tr '\n' ' ')
    say "bench $size $precision: ${line:-FAILED (see gpu_check_log.txt)}"
  done
done
for strips in engine cpu; do
  [ "$(left)" -gt 60 ] || { say "batches ($strips strips): skipped, budget spent"; continue; }
  echo "== bench_batches --strips $strips" >>"$log"
  line=$(timeout "$(left)" "$py" benchmarks/bench_batches.py --device "$device" --size "${sizes%% *}" --precision bf16 \
           --batches "$batches" --repeats "$repeats" --strips "$strips" 2>&1 | tee -a "$log" | grep -E '^ *batch|^best:' | tr -s ' ' | tr '\n' ';')
  say "bf16 ${sizes%% *} by batch ($strips strips): ${line:-FAILED (see gpu_check_log.txt)}"
done

# -- device tests ----------------------------------------------------------------------------------------
shared=${VTOONIFY_SHARED:-}
[ -n "$shared" ] || { [ -d ../shared/reference ] && shared=$(cd ../shared && pwd); } || true
[ -n "$shared" ] || { [ -d .gpu_shared/reference ] && shared=$PWD/.gpu_shared; } || true
have() { [ -n "$shared" ] && for f in "$@"; do [ -f "$shared/reference/$f" ] || return 1; done; }
files="tests/ops/test_ops.py tests/ops/test_fir.py tests/ops/test_upconv.py tests/service/test_jobs.py"
gold="vtoonify_d_golden.pt vtoonify_t_golden.pt"
if have WEIGHTS_ONLY; then say "tests left out (weights-only goldens, scripts/gpu_shared.py): golden parity"
elif have $gold; then files="$files tests/models/test_vtoonify_golden.py tests/models/test_static_vtoonify.py"
else say "tests left out (no $gold under ${shared:-any shared folder}): golden parity"; fi
have $gold psp_narrow_golden.pt bisenet_golden.pt && files="$files tests/models/test_static_backend.py tests/train/test_precision.py" \
  || say "tests left out (no psp_narrow/bisenet goldens too): backend renders, training iterations"
t=$(left); [ "$t" -gt 60 ] || t=60
say "== pytest --device $device -m device (${t}s): $files"
VTOONIFY_SHARED=${shared:-$PWD/.gpu_shared} timeout "$t" "$py" -m pytest -p no:cacheprovider -q -rs -m device \
  --device "$device" -o addopts=--import-mode=importlib -p no:randomly $files >>"$log" 2>&1
status=$?
tail -n 40 "$log" | grep -E '^(SKIPPED|FAILED|ERROR)|passed|failed|no tests ran' | tail -n 25 | tee -a "$summary"
[ $status = 124 ] && say "pytest: stopped at the time budget"
say "== done in $(( $(date +%s) - start ))s; pytest exit $status"
exit $status
