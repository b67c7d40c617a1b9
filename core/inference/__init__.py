"""Using a trained run: load it (`loading.load_run`) and score histories (`scoring.ModelScorer`).

Kept apart from `core.training` so the dashboard and the analyses load a model without
importing the trainer, its optimiser or its callbacks.
"""
