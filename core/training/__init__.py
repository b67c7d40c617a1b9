"""Pre-training the behaviour Transformer: objectives, the training loop, callbacks, checkpoints.

Entry point: `core.training.run.train_run` (what `python -m core train` calls). Fine-tuning
lives in `core.training.finetune`; loading a trained run to score it lives in `core.inference`.
"""
