"""Honest offline evaluation: leave-one-out splits, ranking metrics and the baselines to beat."""
