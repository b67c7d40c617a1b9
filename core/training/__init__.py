"""Pre-training the behaviour Transformer: objectives, the training loop, checkpoints, loading.

Entry points: `core.training.run.train_run` (what `python -m core train` calls) and
`core.training.checkpoint.load_run` (a trained run, ready to score, predict and encode).
"""
