"""A straightforward PyTorch SASRec, the speed baseline for bench/train_speed.py.

SASRec: Kang & McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018. This follows the
widely used port pmixer/SASRec.pytorch: left-padded windows, item embedding scaled by sqrt(d),
learned positions, `nn.MultiheadAttention` (weights computed, dropout on the attention maps),
point-wise feed-forward as two 1x1 convolutions with ReLU, attention over the full padded window,
and binary cross-entropy with one sampled negative per position. It is deliberately the plain
paper model, not tuned: it is what "a straightforward implementation" means in issue #3.

It also holds `load_beauty`, the reader for ../shared/data/beauty (`user item` per line, each
user's lines in time order) shared by the model benchmarks.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.data.sequences import EventSequences
from core.data.vocab import NUM_RESERVED, Vocab
from core.evaluation.leave_one_out import train_mask

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@dataclass
class SASRecConfig:
    """The reference configuration of issue #3 (the paper's settings for sparse Amazon data)."""

    num_items: int  # item vocabulary size, reserved ids included (PAD = 0)
    max_len: int = 50  # window length (paper: 50 for Amazon datasets)
    dim: int = 50  # hidden units (paper: 50)
    blocks: int = 2  # self-attention blocks (paper: 2)
    heads: int = 1  # attention heads (paper: 1)
    dropout: float = 0.5  # dropout everywhere, attention maps included (paper: 0.5 on Beauty)
    lr: float = 1e-3  # Adam learning rate (paper: 0.001)
    batch_size: int = 128  # sequences per step (paper: 128)


class PointWiseFeedForward(nn.Module):
    """Conv1d(k=1) -> ReLU -> Conv1d(k=1) with dropout and a residual, as in the port."""

    def __init__(self, dim: int, dropout: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(dim, dim, kernel_size=1)
        self.conv2 = nn.Conv1d(dim, dim, kernel_size=1)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dropout1(torch.relu(self.conv1(x.transpose(-1, -2))))  # (B, D, T)
        h = self.dropout2(self.conv2(h)).transpose(-1, -2)  # (B, T, D)
        return h + x  # (B, T, D)


class SASRec(nn.Module):
    """The paper model; `forward(seq, pos, neg) -> (pos_logits, neg_logits)`, each (B, T)."""

    def __init__(self, config: SASRecConfig) -> None:
        super().__init__()
        d = config.dim
        self.item_emb = nn.Embedding(config.num_items, d, padding_idx=0)
        self.pos_emb = nn.Embedding(config.max_len + 1, d, padding_idx=0)
        self.emb_dropout = nn.Dropout(config.dropout)
        self.attn_norms = nn.ModuleList(nn.LayerNorm(d, eps=1e-8) for _ in range(config.blocks))
        self.attns = nn.ModuleList(
            nn.MultiheadAttention(d, config.heads, dropout=config.dropout)
            for _ in range(config.blocks)
        )
        self.ffn_norms = nn.ModuleList(nn.LayerNorm(d, eps=1e-8) for _ in range(config.blocks))
        self.ffns = nn.ModuleList(
            PointWiseFeedForward(d, config.dropout) for _ in range(config.blocks)
        )
        self.last_norm = nn.LayerNorm(d, eps=1e-8)
        self.attentions: list[torch.Tensor] = []  # last forward's (B, T, T) maps, per block
        for param in self.parameters():  # the port's init: Xavier-normal wherever it applies
            if param.dim() > 1:
                nn.init.xavier_normal_(param)

    def features(self, seq: torch.Tensor) -> torch.Tensor:
        """(B, T) left-padded item ids -> (B, T) states, D wide."""
        x = self.item_emb(seq) * self.item_emb.embedding_dim**0.5  # (B, T, D)
        positions = torch.arange(1, seq.shape[1] + 1, device=seq.device)  # (T,)
        x = self.emb_dropout(x + self.pos_emb(positions * (seq != 0)))  # (B, T, D)
        T = seq.shape[1]
        future = ~torch.tril(torch.ones(T, T, dtype=torch.bool, device=seq.device))  # (T, T)
        self.attentions = []
        for norm, attn, ffn_norm, ffn in zip(
            self.attn_norms, self.attns, self.ffn_norms, self.ffns, strict=True
        ):
            x = x.transpose(0, 1)  # (T, B, D)
            q = norm(x)  # (T, B, D)
            out, weights = attn(q, x, x, attn_mask=future)  # (T, B, D), (B, T, T)
            self.attentions.append(weights)
            x = (q + out).transpose(0, 1)  # (B, T, D)
            x = ffn(ffn_norm(x))  # (B, T, D)
        return self.last_norm(x)  # (B, T, D)

    def forward(
        self, seq: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(seq)  # (B, T, D)
        pos_logits = (h * self.item_emb(pos)).sum(-1)  # (B, T)
        neg_logits = (h * self.item_emb(neg)).sum(-1)  # (B, T)
        return pos_logits, neg_logits


def bce_loss(pos_logits: torch.Tensor, neg_logits: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy on (positive, one negative) at every real position."""
    real = pos != 0  # (B, T)
    bce = nn.functional.binary_cross_entropy_with_logits
    return bce(pos_logits[real], torch.ones_like(pos_logits[real])) + bce(
        neg_logits[real], torch.zeros_like(neg_logits[real])
    )


class ReferenceSampler:
    """Batches as in the port: a random user's last max_len+1 training items, shifted by one.

    Vectorised with numpy (the port loops in Python in worker processes, which would make the
    reference look slower than the model really is). Negatives are uniform over real items,
    redrawn where they hit the positive; unlike the port they may hit an older item of the user.
    """

    def __init__(self, sequences: EventSequences, config: SASRecConfig, seed: int = 0) -> None:
        mask = train_mask(sequences)
        self.items = sequences.items.astype(np.int64)
        self.train_items = np.where(mask, self.items, 0)
        lengths = np.diff(sequences.offsets)
        self.ends = sequences.offsets[1:] - np.where(lengths >= 3, 2, 0)  # exclusive train ends
        self.starts = sequences.offsets[:-1]
        self.users = np.flatnonzero(self.ends - self.starts >= 2)
        self.config = config
        self.rng = np.random.default_rng(seed)

    def batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        c = self.config
        users = self.rng.choice(self.users, c.batch_size)  # (B,)
        ends = self.ends[users]  # (B,)
        offs = np.arange(-c.max_len, 0)  # (T,)
        rows = ends[:, None] + offs[None, :]  # (B, T) rows of the positives
        real = rows >= self.starts[users][:, None]  # (B, T)
        pos = np.where(real, self.items[np.maximum(rows, 0)], 0)  # (B, T)
        seq_real = (rows - 1) >= self.starts[users][:, None]  # (B, T)
        seq = np.where(seq_real, self.items[np.maximum(rows - 1, 0)], 0)  # (B, T)
        pos = np.where(seq_real, pos, 0)  # the first item has no history
        neg = self.rng.integers(NUM_RESERVED, c.num_items, size=pos.shape)  # (B, T)
        clash = neg == pos
        neg[clash] = (neg[clash] - NUM_RESERVED + 1) % (c.num_items - NUM_RESERVED) + NUM_RESERVED
        neg = np.where(pos != 0, neg, 0)
        return torch.from_numpy(seq), torch.from_numpy(pos), torch.from_numpy(neg)


def train_steps(
    model: SASRec, sampler: ReferenceSampler, optimizer: torch.optim.Optimizer, steps: int
) -> float:
    """Run `steps` optimisation steps (batch sampling included) and return the last loss."""
    model.train()
    loss = torch.tensor(0.0)
    device = next(model.parameters()).device
    for _ in range(steps):
        seq, pos, neg = (t.to(device) for t in sampler.batch())
        pos_logits, neg_logits = model(seq, pos, neg)
        loss = bce_loss(pos_logits, neg_logits, pos)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return loss.item()


def make_reference(sequences: EventSequences, seed: int = 0, **overrides: object):
    """Model, sampler and Adam (betas 0.9, 0.98 as in the port) for the given data."""
    torch.manual_seed(seed)
    config = SASRecConfig(num_items=len(sequences.item_vocab), **overrides)  # type: ignore[arg-type]
    model = SASRec(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=(0.9, 0.98))
    return model, ReferenceSampler(sequences, config, seed), optimizer


def load_beauty(path: Path | None = None) -> EventSequences | None:
    """EventSequences for beauty.txt (no time or event type), or None when the data is absent."""
    path = path or DATA_DIR / "beauty" / "beauty.txt"
    if not path.is_file():
        return None
    pairs = np.loadtxt(path, dtype=np.int64, ndmin=2)  # (N, 2) user, item; grouped by user
    users, items = pairs[:, 0], pairs[:, 1]
    user_ids, starts = np.unique(users, return_index=True)
    order = np.argsort(starts, kind="stable")
    offsets = np.append(np.sort(starts), len(users))
    item_tokens, item_idx = np.unique(items, return_inverse=True)
    counts = np.bincount(item_idx, minlength=len(item_tokens))
    n = len(items)
    return EventSequences(
        user_ids=user_ids[order].astype(str),
        offsets=offsets.astype(np.int64),
        items=(item_idx + NUM_RESERVED).astype(np.int32),
        events=np.full(n, NUM_RESERVED, dtype=np.int32),
        categories=np.full(n, 2, dtype=np.int32),
        timestamps=np.zeros(n, dtype=np.int64),
        sessions=np.arange(len(user_ids)).repeat(np.diff(offsets)).astype(np.int64),
        item_vocab=Vocab.build(item_tokens.astype(str).tolist(), counts.tolist()),
        event_vocab=Vocab.build(["review"], [n]),
        category_vocab=Vocab.build([]),
    )


def load_beauty_or_say_skipped() -> EventSequences | None:
    """`load_beauty()`, printing the one skip message the benchmarks share when it is absent."""
    sequences = load_beauty()
    if sequences is None:
        print("skipped: ../shared/data/beauty/beauty.txt is absent", file=sys.stderr)
    return sequences


# ---- shared by the model benchmarks: where figures go -------------------------------------------

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def machine_note() -> str:
    """The machine and its load, since the benchmark CPU is shared with other work."""
    import os

    load = os.getloadavg()[0]
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)}, load {load:.1f}"
    return f"{os.cpu_count()}-core CPU, {torch.get_num_threads()} threads, load {load:.1f}"


def record_results(section: str, columns: list[str], rows: list[list[object]]) -> None:
    """Put rows first in the table under `## section` in RESULTS.md (newest first).

    The table's header must be exactly `columns` (bench.results_table refuses otherwise); a
    missing section is added at the end. Earlier rows and other sections are left untouched.
    """
    from bench.results_table import record_rows

    record_rows(RESULTS, section, columns, rows)
