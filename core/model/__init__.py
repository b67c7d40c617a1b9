"""The behaviour Transformer: input embeddings, pre-norm blocks, and heads with one contract.

Public names: `ModelConfig`, `BehaviorTransformer`, `EncoderInput`, `EncoderOutput`, the heads in
`core.model.heads`, and `gap_buckets` for turning timestamps into time-gap bucket ids.
"""

from core.model.config import ModelConfig
from core.model.embeddings import gap_buckets
from core.model.transformer import BehaviorTransformer, EncoderInput, EncoderOutput

__all__ = ["BehaviorTransformer", "EncoderInput", "EncoderOutput", "ModelConfig", "gap_buckets"]
