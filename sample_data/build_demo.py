"""Rebuild the pre-trained demo run shipped in sample_data/demo_run/.

    python -m sample_data.build_demo [--minutes 4]

It runs the same CLI commands an analyst would (ingest, then train --analyze: evaluate, segments,
session intents, anomalies) in a temporary workspace and keeps the run folder's files, minus the
resume state. The dashboard
installs that folder as run "demo" (sample_data.demo), so a first visitor sees a trained model at once.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from core.cli import main as cli
from core.workspace import atomic_directory
from sample_data.demo import DEMO_DATASET, DEMO_RUN, DEMO_RUN_SOURCE, SAMPLE_ITEMS, SAMPLE_LOG

DEMO_MODEL = ["--dim", "64", "--layers", "2", "--heads", "2", "--max-len", "50"]
KEPT_FILES = ("*.json", "*.jsonl", "*.safetensors", "*.parquet")  # not resume/ (optimizer state)


def build(minutes: float, out: Path = DEMO_RUN_SOURCE) -> None:
    with tempfile.TemporaryDirectory(prefix="behavior-lens-demo-") as tmp:
        ws = ["--workspace", tmp]
        run = ["--run", DEMO_RUN, *ws]
        steps = [
            ["ingest", str(SAMPLE_LOG), "--items", str(SAMPLE_ITEMS), "--name", DEMO_DATASET, *ws],
            ["train", "--dataset", DEMO_DATASET, *run, *DEMO_MODEL, "--seed", "0",
             "--max-minutes", str(minutes), "--analyze"],  # + evaluate, segments, intents, anomalies
        ]  # fmt: skip
        for step in steps:
            if cli(step) != 0:
                raise SystemExit(f"demo build failed at: python -m core {' '.join(step)}")
        source = Path(tmp) / "runs" / DEMO_RUN
        with atomic_directory(out) as staging:
            staging.chmod(0o755)
            for pattern in KEPT_FILES:
                for path in source.glob(pattern):
                    shutil.copyfile(path, staging / path.name)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=4.0, help="training time budget")
    parser.add_argument("--out", type=Path, default=DEMO_RUN_SOURCE, help="where the run goes")
    args = parser.parse_args(argv)
    build(args.minutes, args.out)
    print(f"demo run written to {args.out}")


if __name__ == "__main__":
    main()
