#!/usr/bin/env bash
# The model figures on a CUDA machine, in one go (about 20 minutes; run only where a GPU exists):
# 1. training speed against the SASRec reference, top-10 inference for every user, and accuracy
#    with default settings under a short budget (needs ../shared/data/beauty);
# 2. training throughput and peak GPU memory with AMP (bfloat16 autocast, on by default) on a
#    generated 10M-event log (bench/scale_log.py), on one GPU and then on every GPU with
#    torchrun (DistributedDataParallel over NCCL, one process per GPU), same total batch size.
# PY=/path/to/python picks a Python with a CUDA build of torch; EVENTS=N and MINUTES=M resize part 2.
# Part 1's rows go to bench/RESULTS.md beside the CPU rows (the GPU's name in the machine column);
# part 2 prints one JSON line per run (sequences_per_second, data_share, peak_gpu_memory_gb).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
EVENTS=${EVENTS:-10000000}
MINUTES=${MINUTES:-3}
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device')"
GPUS=$("$PY" -c "import torch; print(torch.cuda.device_count())")

"$PY" -m bench.train_speed --device cuda --steps 60 --rounds 3
"$PY" -m bench.inference --device cuda
"$PY" -m bench.train_accuracy --device cuda --max-minutes 4 --objectives causal masked

WORK=bench/_work/gpu-$EVENTS
[ -d "$WORK/log" ] || "$PY" -m bench.scale_log --events "$EVENTS" --out "$WORK/log"
[ -d "$WORK/ws/datasets/scale" ] || "$PY" -m core --workspace "$WORK/ws" ingest "$WORK/log" --name scale
TRAIN=(train --dataset scale --max-minutes "$MINUTES" --batch-size 512 --device cuda --workspace "$WORK/ws")
echo "one GPU:"
"$PY" -m core "${TRAIN[@]}" --run gpu1 | tail -n 1
echo "$GPUS GPUs (torchrun, DDP over NCCL):"
"$PY" -m torch.distributed.run --standalone --nproc_per_node="$GPUS" -m core -- "${TRAIN[@]}" --run "gpu$GPUS" | grep '^{"run"'
