"""Loading a trained run for inference: config.json + safetensors weights, checked, in eval mode.

Everything that reads a run without training it (analysis, the dashboard, `predict`, `score`)
comes here, so none of it imports the trainer. The writing side lives in
core.training.checkpoint; both agree on FORMAT_VERSION.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, load_model

from core.data.sequences import EventSequences
from core.errors import BehaviorLensError
from core.inference.scoring import Encoding, ModelScorer, NextPrediction
from core.model.config import ModelConfig
from core.model.transformer import BehaviorTransformer
from core.training.config import TrainConfig
from core.training.windows import vocab_hash
from core.workspace import Workspace, read_json

FORMAT_VERSION = 1  # bump when the layout of config.json or the weight names change


def check_format(path: Path, meta: dict[str, Any]) -> None:
    """Refuses a checkpoint JSON written in another layout than the one this code reads."""
    found = meta.get("format")
    if found != FORMAT_VERSION:
        what = "no format version" if found is None else f"format version {found!r}"
        raise BehaviorLensError(
            f"{path}: checkpoint has {what}, this version of Behavior Lens reads format "
            f"{FORMAT_VERSION}; re-train the run"
        )


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
    meta = read_json_object(run_dir / "config.json")
    check_format(run_dir / "config.json", meta)
    try:
        model_config = ModelConfig.from_dict(meta["model_config"])
        train_config = TrainConfig.from_dict(meta["train_config"])
    except (KeyError, TypeError, ValueError) as error:
        raise BehaviorLensError(f"{run_dir / 'config.json'}: unusable config ({error})") from error
    model = BehaviorTransformer(model_config)
    target = device if isinstance(device, torch.device) else resolve_device(device)
    _check_weights_step(run_dir, meta)
    load_weights(model, run_dir / "model.safetensors", target)
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


def load_weights(model: torch.nn.Module, path: Path, device: torch.device) -> None:
    try:
        model.to(device)
        load_model(model, str(path), device=str(device))
    except (OSError, SafetensorError, RuntimeError) as error:
        reason = " ".join(str(error).split())  # torch's shape report spans several lines
        raise BehaviorLensError(f"{path}: cannot load weights ({reason})") from error


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (OSError, SafetensorError) as error:
        raise BehaviorLensError(f"{path}: cannot load ({error})") from error


def read_json_object(path: Path) -> dict[str, Any]:
    try:
        payload = read_json(path)
    except (OSError, ValueError) as error:  # ValueError: bad JSON or bad UTF-8
        raise BehaviorLensError(f"{path}: unreadable ({error})") from error
    if not isinstance(payload, dict):
        raise BehaviorLensError(f"{path}: unreadable (not a JSON object)")
    return payload
