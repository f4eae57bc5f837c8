"""Continuous batching for the local backend: finished rows leave, waiting rows take
their place, so a batch stays full while work is waiting.

`transformers`' own continuous batching (`generate_batch`, paged attention) samples with
one generation config for the whole batch; we need each row's own seed, temperature and
top_p (a row's text must not depend on its neighbours), so this is a small decode loop
over a `DynamicCache`:

- Waiting rows are admitted in order of prompt length (similar lengths pad little), in
  groups: one batched prefill per group (once per distinct prompt: a prompt's candidates
  share it), then the group's cache is left-padded to the running batch's length and
  concatenated to it.
- A row stops at a stop token (`eos_ids`) or at max_new_tokens and leaves the batch at
  once (its cache rows are dropped); no padding is ever decoded or counted as work.
- A group is admitted once a quarter of the batch is free (or the batch is empty), so
  a prefill serves several rows; leading cache columns that no row uses any more are cut.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

TOP_K = 256  # nucleus sampling runs over the most likely 256 tokens (see sample_rows)


@dataclass
class Row:
    """One sequence to generate: its prompt tokens and sampling, then its output."""

    prompt: list[int]
    seed: int
    temperature: float
    tokens: list[int] = field(default_factory=list)
    latency_ms: float = 0.0
    generator: Any = None
    started: float = 0.0


@dataclass
class Batch:
    """The rows being decoded, with their cache, attention mask and last tokens."""

    rows: list[Row]
    cache: Any
    mask: Any  # (rows, columns): 1 where a cache column holds a real token of that row
    last: Any  # (rows, 1): each row's newest token, the next step's input


def sample_rows(scores: Any, rows: list[Row], top_p: float) -> Any:
    """Each row's next token from its own generator at its own temperature; top_p keeps
    the smallest prefix of the TOP_K most likely tokens reaching top_p of the mass (a
    full-vocabulary sort per row and step would cost about as much as the forward pass)."""
    import torch

    scores = scores.float()
    temperatures = torch.tensor([[max(r.temperature, 1e-5)] for r in rows], device=scores.device)
    probs = torch.softmax(scores / temperatures, dim=-1)
    top_probs, top_ids = probs.topk(min(TOP_K, probs.shape[-1]), dim=-1)
    keep = (top_probs.cumsum(-1) - top_probs) < top_p  # the first token always stays
    top_probs, top_ids = (top_probs * keep).cpu(), top_ids.cpu()
    chosen = torch.empty(len(rows), dtype=torch.long)
    for i, row in enumerate(rows):
        if row.temperature <= 0:
            chosen[i] = int(top_ids[i, 0])
        else:
            pick = torch.multinomial(top_probs[i], 1, generator=row.generator)
            chosen[i] = top_ids[i, pick]
    return chosen


class RefillingDecoder:
    def __init__(
        self,
        lm: Any,
        *,
        batch_size: int,
        max_new_tokens: int,
        top_p: float,
        eos_ids: set[int],
        pad_id: int,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        self.lm = lm
        self.batch_size = max(1, batch_size)
        self.max_new_tokens = max_new_tokens
        self.top_p = top_p
        self.eos_ids = eos_ids
        self.pad_id = pad_id
        self.should_stop = should_stop
        self.widths: list[int] = []  # rows decoded per step (for the bench and tests)

    def run(self, rows: list[Row]) -> list[Row]:
        """Generate every row (in place); returns them in the order given."""
        import torch

        waiting = sorted(rows, key=lambda r: len(r.prompt))
        batch: Batch | None = None
        with torch.inference_mode():
            while waiting or batch is not None:
                if self.should_stop and self.should_stop():
                    break
                free = self.batch_size - (len(batch.rows) if batch else 0)
                if waiting and (batch is None or free >= max(1, self.batch_size // 4)):
                    group, waiting = waiting[:free], waiting[free:]
                    batch = self._join(batch, self._prefill(group))
                else:
                    assert batch is not None
                    self._step(batch)
                batch = self._retire(batch)
        return rows

    def _prefill(self, group: list[Row]) -> Batch:
        """One forward pass over the group's distinct prompts (a prompt's candidates share
        it: their cache rows are copies), left-padded to the longest."""
        import torch
        from transformers import DynamicCache

        distinct: dict[tuple[int, ...], int] = {}
        which = [distinct.setdefault(tuple(r.prompt), len(distinct)) for r in group]
        width = max(len(p) for p in distinct)
        ids = torch.full((len(distinct), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(distinct), width), dtype=torch.long)
        for i, prompt in enumerate(distinct):
            ids[i, width - len(prompt) :] = torch.tensor(prompt)
            mask[i, width - len(prompt) :] = 1
        for row in group:
            row.generator = torch.Generator().manual_seed(row.seed)
            row.started = time.perf_counter()
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        device = self.lm.device
        out = self.lm(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            position_ids=positions.to(device),
            cache=DynamicCache(),
            use_cache=True,
            logits_to_keep=1,
        )
        index = torch.tensor(which)
        if len(distinct) < len(group):
            out.cache.batch_select_indices(index.to(device))
        batch = Batch(group, out.cache, mask[index], None)
        self._take(batch, out.logits[index.to(device), -1, :])
        return batch

    def _step(self, batch: Batch) -> None:
        import torch

        batch.mask = torch.cat([batch.mask, torch.ones((len(batch.rows), 1), dtype=torch.long)], 1)
        positions = batch.mask.sum(-1, keepdim=True) - 1
        device = self.lm.device
        out = self.lm(
            input_ids=batch.last.to(device),
            attention_mask=batch.mask.to(device),
            position_ids=positions.to(device),
            cache=batch.cache,
            use_cache=True,
        )
        batch.cache = out.cache
        self._take(batch, out.logits[:, -1, :])

    def _take(self, batch: Batch, logits: Any) -> None:
        chosen = sample_rows(logits, batch.rows, self.top_p)
        for row, token in zip(batch.rows, chosen.tolist(), strict=True):
            row.tokens.append(token)
        batch.last = chosen.unsqueeze(1)
        self.widths.append(len(batch.rows))

    def _retire(self, batch: Batch) -> Batch | None:
        """Drop rows that ended (end-of-sequence or max_new_tokens) from the batch."""
        import torch

        now = time.perf_counter()
        keep = []
        for i, row in enumerate(batch.rows):
            if row.tokens[-1] in self.eos_ids or len(row.tokens) >= self.max_new_tokens:
                row.latency_ms = (now - row.started) * 1000
            else:
                keep.append(i)
        if not keep:
            return None
        if len(keep) < len(batch.rows):
            index = torch.tensor(keep)
            batch.cache.batch_select_indices(index.to(self.lm.device))
            batch.rows = [batch.rows[i] for i in keep]
            batch.mask, batch.last = batch.mask[index], batch.last[index]
            _trim(batch)
        return batch

    def _join(self, batch: Batch | None, new: Batch) -> Batch:
        """One batch of both: the shorter cache is left-padded to the longer one's length."""
        import torch

        if batch is None:
            return new
        width = max(batch.mask.shape[1], new.mask.shape[1])
        for old_layer, new_layer in zip(batch.cache.layers, new.cache.layers, strict=True):
            old_layer.keys = torch.cat([_pad(old_layer.keys, width), _pad(new_layer.keys, width)])
            old_layer.values = torch.cat(
                [_pad(old_layer.values, width), _pad(new_layer.values, width)]
            )
        mask = torch.cat([_pad_mask(batch.mask, width), _pad_mask(new.mask, width)])
        return Batch(batch.rows + new.rows, batch.cache, mask, torch.cat([batch.last, new.last]))


def _pad(states: Any, width: int) -> Any:
    """Left-pad a (rows, heads, columns, dim) cache tensor with zero columns."""
    import torch.nn.functional as F

    return F.pad(states, (0, 0, width - states.shape[2], 0))


def _pad_mask(mask: Any, width: int) -> Any:
    import torch.nn.functional as F

    return F.pad(mask, (width - mask.shape[1], 0))


def _trim(batch: Batch) -> None:
    """Cut leading cache columns that no remaining row attends to (they left with rows)."""
    used = batch.mask.any(dim=0).nonzero()
    first = int(used[0]) if len(used) else 0
    if first:
        batch.mask = batch.mask[:, first:]
        for layer in batch.cache.layers:
            layer.keys, layer.values = layer.keys[:, :, first:], layer.values[:, :, first:]
