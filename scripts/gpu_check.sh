#!/usr/bin/env bash
# The checks that need a CUDA GPU, in one command, on a machine that has one.
#
# physsim's CI and development machines have no GPU, so these run wherever one is lent:
#   1. the CUDA tests, skipped elsewhere (pytest -k cuda): the pipeline's every optional step,
#      render_pairs and replay against the CPU's renders, and a physical and a patch scene;
#   2. the EOT benchmark on the GPU (scripts/bench_eot.py --device cuda);
#   3. the default scene, in full, on the GPU (physsim run --device cuda), whose metrics can be
#      set beside the CPU's in the README;
#   4. the chunked memory benchmark on the GPU (scripts/bench_eot_memory.py --device cuda).
# Everything is written to OUT (default scripts/results/gpu): cuda_tests.log, bench_eot_cuda.json,
# bench.log, bench_eot_memory_cuda.json, bench_memory.log, the run directory run/ and run.log
# (git ignores the logs and run/ there; the benchmarks' JSON are results to commit).
#
#   scripts/gpu_check.sh [OUT] [WHEELS]
#
# WHEELS: a folder of wheels for the dependencies that the GPU machine's Python lacks, where it
# has torch but no network. They are installed with physsim under /tmp/physsim-site, which goes
# first on PYTHONPATH. To make them (here, for a Python 3.12 machine that has torch, numpy,
# OpenCV, click, pluggy, PyYAML, Pillow, matplotlib, tqdm and pytest already):
#
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux2014_x86_64 -d .whl kornia kornia_rs pydantic pydantic_core \
#       annotated_types typing_inspection "typing_extensions>=4.16" fpdf2 defusedxml
#
# (.whl/ is ignored by git.) Exits non-zero if there is no CUDA device or a test fails; the
# benchmark and the run still go ahead after a failed test, so that one call gives every result.
set -uo pipefail

out="${1:-scripts/results/gpu}"
wheels="${2:-}"
mkdir -p "$out"
status=0

if [[ -n "$wheels" ]]; then
    site=/tmp/physsim-site
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$site" "$wheels"/*.whl || exit 1
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
    # physsim itself, for its entry points (the built-in plugins) and the physsim command
    python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile \
        --target "$site" . || exit 1
    export PATH="$site/bin:$PATH"
fi

python3 - <<'EOF' || exit 1
import sys

import torch

if not torch.cuda.is_available():
    sys.exit("gpu_check: torch sees no CUDA device")
print(f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}")
EOF

export PYTHONUNBUFFERED=1
python3 -m pytest tests -k cuda -rs -p no:cacheprovider 2>&1 | tee "$out/cuda_tests.log" \
    || status=1
python3 scripts/bench_eot.py --device cuda --json "$out/bench_eot_cuda.json" 2>&1 \
    | tee "$out/bench.log" || status=1
rm -rf "$out/run"
physsim run stop_sign_sticker --device cuda -o "$out/run" 2>&1 | tee "$out/run.log" || status=1
# last: a process per measurement, the longest part where a call's time is capped
python3 scripts/bench_eot_memory.py --device cuda --json "$out/bench_eot_memory_cuda.json" 2>&1 \
    | tee "$out/bench_memory.log" || status=1
exit $status
