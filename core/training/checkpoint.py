"""Run checkpoints on disk (safetensors + JSON, never pickle) and loading a trained run.

runs/NAME/model.safetensors   best weights so far (by validation NDCG@10)
runs/NAME/config.json         model + train config, dataset, vocab hash, metrics; written last
runs/NAME/resume/             last state for --resume, replaced whole (atomic_directory):
                              model.safetensors, optimizer.safetensors (+ torch RNG), state.json
runs/NAME/progress.jsonl      one JSON line per progress event (see callbacks)
runs/NAME/status.json         running | finished | failed | cancelled, for background jobs
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, load_model, save_file, save_model

from core import fs_atomic
from core.data.sequences import EventSequences
from core.errors import BehaviorLensError
from core.faults import fault_point
from core.model.config import ModelConfig
from core.model.transformer import BehaviorTransformer
from core.training.config import TrainConfig
from core.training.scoring import Encoding, ModelScorer, NextPrediction
from core.training.trainer import Trainer, TrainState
from core.training.windows import vocab_hash
from core.workspace import Workspace, atomic_directory, atomic_write_json, read_json

FORMAT_VERSION = 1  # bump when the layout of config.json or the weight names change


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
            "param_groups": groups,
            **meta,
        }
        (tmp / "state.json").write_text(json.dumps(state, default=_json_default), "utf-8")
        fault_point("checkpoint.resume.before_rename")


def read_resume_state(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "resume" / "state.json"
    if not path.is_file():
        raise BehaviorLensError(f"{run_dir}: nothing to resume (no resume/state.json)")
    state = _read_json(path)
    check_format(path, state)
    return state


def has_resume_state(run_dir: Path) -> bool:
    return (run_dir / "resume" / "state.json").is_file()


def check_format(path: Path, meta: dict[str, Any]) -> None:
    """Refuses a checkpoint JSON written in another layout than the one this code reads."""
    found = meta.get("format")
    if found != FORMAT_VERSION:
        what = "no format version" if found is None else f"format version {found!r}"
        raise BehaviorLensError(
            f"{path}: checkpoint has {what}, this version of Behavior Lens reads format "
            f"{FORMAT_VERSION}; re-train the run"
        )


def restore_resume(run_dir: Path, trainer: Trainer, state: dict[str, Any]) -> None:
    """Puts weights, optimizer moments, RNGs and loop position back where the checkpoint was."""
    folder = run_dir / "resume"
    _load_weights(trainer.model, folder / "model.safetensors", trainer.device)
    tensors = _load_tensors(folder / "optimizer.safetensors")
    torch.set_rng_state(tensors.pop("rng.torch"))
    trainer.optimizer.load_state_dict(_unflatten_optimizer(tensors, state["param_groups"]))
    trainer.state = TrainState(**state["trainer"])
    trainer.rng = np.random.default_rng()
    trainer.rng.bit_generator.state = state["numpy_rng"]
    if "bf16_matmuls" in state:  # the precision the run began with, whatever this CPU measured
        trainer.bf16_matmuls = trainer.loss.bf16_matmuls = bool(state["bf16_matmuls"])


@dataclass
class LoadedRun:
    """A trained run, ready to score: the model on its device plus the configs it came with."""

    name: str
    run_dir: Path
    dataset: str
    model: BehaviorTransformer
    model_config: ModelConfig
    train_config: TrainConfig
    meta: dict[str, Any]  # the whole config.json (metrics, history, vocab hash, ...)

    def scorer(self) -> ModelScorer:
        """A `core.evaluation` NextItemScorer over this model."""
        return ModelScorer(self.model)

    def check_vocab(self, sequences: EventSequences) -> None:
        """Raises when `sequences` were not built with the vocabularies this run trained on."""
        if vocab_hash(sequences) != self.meta.get("vocab_hash"):
            raise BehaviorLensError(
                f"run {self.name!r} was trained on dataset {self.dataset!r} with other "
                "vocabularies; re-train it on this data"
            )

    def predict_next(
        self, sequences: EventSequences, users: np.ndarray, cutoffs: np.ndarray
    ) -> NextPrediction:
        self.check_vocab(sequences)
        return self.scorer().predict_next(sequences, users, cutoffs)

    def encode(
        self, sequences: EventSequences, users: np.ndarray, cutoffs: np.ndarray | None = None
    ) -> Encoding:
        self.check_vocab(sequences)
        return self.scorer().encode(sequences, users, cutoffs)


def load_run(workspace: Workspace, run_name: str, device: str | torch.device = "auto") -> LoadedRun:
    """Loads runs/NAME (best weights) onto `device` ("auto": cuda when present) in eval mode.

    A `torch.device` is taken as is (a torchrun rank's own GPU, `cuda:LOCAL_RANK`).
    """
    run_dir = workspace.existing_run_dir(run_name)
    meta = _read_json(run_dir / "config.json")
    check_format(run_dir / "config.json", meta)
    try:
        model_config = ModelConfig.from_dict(meta["model_config"])
        train_config = TrainConfig.from_dict(meta["train_config"])
    except (KeyError, TypeError, ValueError) as error:
        raise BehaviorLensError(f"{run_dir / 'config.json'}: unusable config ({error})") from error
    model = BehaviorTransformer(model_config)
    target = device if isinstance(device, torch.device) else resolve_device(device)
    _check_weights_step(run_dir, meta)
    _load_weights(model, run_dir / "model.safetensors", target)
    model.eval()
    return LoadedRun(
        run_name, run_dir, meta.get("dataset", ""), model, model_config, train_config, meta
    )


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise BehaviorLensError("--device cuda: no CUDA GPU is available here; use auto or cpu")
    if device not in ("cpu", "cuda"):
        raise BehaviorLensError(f"unknown device {device!r}; choose auto, cpu or cuda")
    return torch.device(device)


def _check_weights_step(run_dir: Path, meta: dict[str, Any]) -> None:
    """The best weights must be the ones config.json describes (see `save_best`)."""
    path = run_dir / "model.safetensors"
    try:
        with safe_open(str(path), "pt") as handle:
            header = handle.metadata() or {}
    except (OSError, SafetensorError) as error:
        raise BehaviorLensError(f"{path}: cannot load weights ({error})") from error
    written, described = header.get("step"), meta.get("weights_step")
    if written is not None and described is not None and written != str(described):
        raise BehaviorLensError(
            f"{path}: holds the weights of step {written} but config.json describes step "
            f"{described} (training was interrupted while saving); continue it with train --resume"
        )


def _load_weights(model: torch.nn.Module, path: Path, device: torch.device) -> None:
    try:
        model.to(device)
        load_model(model, str(path), device=str(device))
    except (OSError, SafetensorError, RuntimeError) as error:
        reason = " ".join(str(error).split())  # torch's shape report spans several lines
        raise BehaviorLensError(f"{path}: cannot load weights ({reason})") from error


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (OSError, SafetensorError) as error:
        raise BehaviorLensError(f"{path}: cannot load ({error})") from error


def _read_json(path: Path) -> dict[str, Any]:
    try:
        payload = read_json(path)
    except (OSError, ValueError) as error:  # ValueError: bad JSON or bad UTF-8
        raise BehaviorLensError(f"{path}: unreadable ({error})") from error
    if not isinstance(payload, dict):
        raise BehaviorLensError(f"{path}: unreadable (not a JSON object)")
    return payload


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
