"""Writing run checkpoints (safetensors + JSON, never pickle); core.inference.loading reads them.

runs/NAME/model.safetensors   best weights so far (by validation NDCG@10)
runs/NAME/config.json         model + train config, dataset, vocab hash, metrics; written last
runs/NAME/resume/             last state for --resume, replaced whole (atomic_directory):
                              model.safetensors, optimizer.safetensors (+ torch RNG), state.json
runs/NAME/progress.jsonl      one ProgressRecord per line (core.progress_record)
runs/NAME/status.json         a JobState: running | finished | failed | cancelled, for pollers
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file, save_model

from core import fs_atomic
from core.errors import BehaviorLensError
from core.faults import fault_point
from core.inference.loading import (
    FORMAT_VERSION,
    check_format,
    load_tensors,
    load_weights,
    read_json_object,
)
from core.model.transformer import BehaviorTransformer
from core.training.trainer import Trainer, TrainState
from core.workspace import atomic_directory, atomic_write_json


def save_best(run_dir: Path, model: BehaviorTransformer, meta: dict[str, Any]) -> None:
    """Weights first, config.json last: a run exists (config.json) only with its weights.

    Each file is replaced atomically, and both carry the step they belong to (the weights in
    their safetensors metadata, config.json as `weights_step`), so a crash between the two
    renames is recognised when loading instead of pairing new weights with old metrics.
    """
    step = str(meta.get("step", ""))
    fault_point("checkpoint.best.start")
    header = {"format": str(FORMAT_VERSION), "step": step}
    with fs_atomic.replacing(run_dir / "model.safetensors") as tmp:
        save_model(model, str(tmp), metadata=header)
    fault_point("checkpoint.best.after_weights")
    payload = {"format": FORMAT_VERSION, **meta, "weights_step": meta.get("step")}
    atomic_write_json(run_dir / "config.json", payload)


def save_resume(run_dir: Path, trainer: Trainer, meta: dict[str, Any]) -> None:
    """Everything --resume needs, swapped in as one folder so it is never half-written."""
    tensors, groups = _flatten_optimizer(trainer.optimizer.state_dict())
    tensors["rng.torch"] = torch.get_rng_state()
    fault_point("checkpoint.resume.start")
    with atomic_directory(run_dir / "resume") as tmp:
        save_model(trainer.model, str(tmp / "model.safetensors"))
        fault_point("checkpoint.resume.after_weights")
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        state = {
            "format": FORMAT_VERSION,
            "trainer": asdict(trainer.state),
            "numpy_rng": trainer.rng.bit_generator.state,
            "bf16_matmuls": trainer.bf16_matmuls,  # timed at start-up: may differ next time
            "loss_choice": trainer.loss_choice.to_dict(),  # timed too: a resume keeps it
            "param_groups": groups,
            **meta,
        }
        (tmp / "state.json").write_text(json.dumps(state, default=_json_default), "utf-8")
        fault_point("checkpoint.resume.before_rename")


def read_resume_state(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "resume" / "state.json"
    if not path.is_file():
        raise BehaviorLensError(f"{run_dir}: nothing to resume (no resume/state.json)")
    state = read_json_object(path)
    check_format(path, state)
    return state


def has_resume_state(run_dir: Path) -> bool:
    return (run_dir / "resume" / "state.json").is_file()


def restore_resume(run_dir: Path, trainer: Trainer, state: dict[str, Any]) -> None:
    """Puts weights, optimizer moments, RNGs and loop position back where the checkpoint was."""
    folder = run_dir / "resume"
    load_weights(trainer.model, folder / "model.safetensors", trainer.device)
    tensors = load_tensors(folder / "optimizer.safetensors")
    torch.set_rng_state(tensors.pop("rng.torch"))
    trainer.optimizer.load_state_dict(_unflatten_optimizer(tensors, state["param_groups"]))
    trainer.state = TrainState(**state["trainer"])
    trainer.rng = np.random.default_rng()
    trainer.rng.bit_generator.state = state["numpy_rng"]
    if "bf16_matmuls" in state:  # the precision the run began with, whatever this CPU measured
        trainer.bf16_matmuls = trainer.loss.bf16_matmuls = bool(state["bf16_matmuls"])


def _flatten_optimizer(sd: dict[str, Any]) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """Optimizer state as flat named tensors (safetensors) + JSON param groups."""
    tensors = {
        f"state.{pid}.{key}": value.detach().cpu().contiguous()
        for pid, slots in sd["state"].items()
        for key, value in slots.items()
    }
    return tensors, sd["param_groups"]


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], groups: list[dict]) -> dict[str, Any]:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        _, pid, key = name.split(".", 2)
        state.setdefault(int(pid), {})[key] = value
    for group in groups:
        if "betas" in group:
            group["betas"] = tuple(group["betas"])
    return {"state": state, "param_groups": groups}


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer | np.floating):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")
