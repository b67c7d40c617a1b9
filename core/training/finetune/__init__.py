"""Fine-tuning a pre-trained encoder on a derived target (next-session purchase, churn, tags).

`run.finetune_run` is the entry point (`python -m core finetune`, the Train page's job);
`examples` builds labelled windows, `model` puts a head on the encoder, `fit` trains it and
`metrics` scores it against a bag-of-events baseline.
"""
