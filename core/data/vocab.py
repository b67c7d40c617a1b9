"""Vocabularies with reserved ids, shared by items, event types and categories."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

PAD, MASK, UNK = 0, 1, 2  # reserved ids, identical in every vocabulary
RESERVED_TOKENS = ("[PAD]", "[MASK]", "[UNK]")
NUM_RESERVED = len(RESERVED_TOKENS)
# Fewest real event types for which the next-event-type head is trained: with one type its
# answer is always right (100%), so its loss teaches nothing and only takes training time.
MIN_EVENT_TYPES_FOR_HEAD = 2
# Token of an event that has no item (a search, a page view): an ordinary row of the item
# vocabulary, always at id NUM_RESERVED when the log has such events, so the model reads it as
# input ("the user searched") but it is never a next-item target and never recommended.
NO_ITEM = "[NO ITEM]"


@dataclass
class Vocab:
    """Token <-> id mapping; ids 0..2 are PAD, MASK, UNK and real tokens start at 3.

    `counts[i]` is how often token i occurred in the data it was built from (0 for reserved ids),
    which popularity baselines and negative samplers use.
    """

    tokens: list[str]  # id -> token, reserved tokens first
    counts: list[int] = field(default_factory=list)  # id -> occurrences in the source data

    def __post_init__(self) -> None:
        if tuple(self.tokens[:NUM_RESERVED]) != RESERVED_TOKENS:
            raise ValueError(f"vocab must start with {RESERVED_TOKENS}, got {self.tokens[:3]}")
        if not self.counts:
            self.counts = [0] * len(self.tokens)
        self._index = {token: i for i, token in enumerate(self.tokens)}

    @classmethod
    def build(cls, tokens: Iterable[str], counts: Iterable[int] | None = None) -> Vocab:
        """Vocab over real tokens (in the given order), with the reserved ones prepended."""
        real = list(tokens)
        real_counts = list(counts) if counts is not None else [0] * len(real)
        return cls(list(RESERVED_TOKENS) + real, [0] * NUM_RESERVED + real_counts)

    def __len__(self) -> int:
        return len(self.tokens)

    def id_of(self, token: str) -> int:
        """Id of a token; unknown tokens map to UNK."""
        return self._index.get(token, UNK)

    def ids_of(self, tokens: Sequence[str]) -> list[int]:
        return [self._index.get(token, UNK) for token in tokens]

    def token_of(self, idx: int) -> str:
        return self.tokens[idx]

    @property
    def no_item_id(self) -> int | None:
        """Id of the no-item token (item vocabularies of logs with item-less events), else None."""
        has = len(self.tokens) > NUM_RESERVED and self.tokens[NUM_RESERVED] == NO_ITEM
        return NUM_RESERVED if has else None

    @property
    def first_real_id(self) -> int:
        """First id that can be a target or a recommendation (after reserved ids and no-item)."""
        return NUM_RESERVED + (self.no_item_id is not None)
