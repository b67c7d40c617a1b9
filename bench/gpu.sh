#!/usr/bin/env bash
# The model figures of issue #3 on a CUDA machine, in one go (about 12 minutes):
# training speed against the SASRec reference, top-10 inference for every user, and
# accuracy with default settings under a short budget. Needs ../shared/data/beauty and a
# Python with a CUDA build of torch (PY=/path/to/python to choose it). Rows go to
# bench/RESULTS.md beside the CPU rows, the GPU's name in the machine column.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device')"
"$PY" -m bench.train_speed --device cuda --steps 60 --rounds 3
"$PY" -m bench.inference --device cuda
"$PY" -m bench.train_accuracy --device cuda --max-minutes 4 --objectives causal masked
