"""Bundled sample data: a seeded, synthetic e-commerce clickstream with planted structure.

`python -m sample_data.generate` rebuilds `events.csv` and `ground_truth.csv` byte for byte.
The planted user intents and anomalous users let tests check that the model recovers them.
Only numpy and the standard library are used, so the generator runs before anything else works.
"""
