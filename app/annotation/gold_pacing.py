"""When an annotator meets a gold item, and which one (issue 20, item 1).

Gold must not be recognisable by its place: no fixed turn (every fifth item), no order
shared by everyone (prompt id order). Both are decided by the server from the set's
`gold_seed`, a random secret written when the set is created and never shown:

- Turn: the annotator's item number n (items they finished in the set) is a gold turn
  when a keyed hash of (annotator, n) falls below 1 / GOLD_EVERY. Each annotator gets gold
  at their own places with the same expected rate; nobody outside can tell the next turn.
- Order: the annotator's open gold prompts are taken in the order of a keyed hash of
  (annotator, prompt): a per-annotator shuffle, stable for that person.

A keyed hash rather than a fresh random draw: every app process sharing the database
gives the same answer, and asking again (a reload, a lapsed lease) does not draw again,
so letting a lease lapse cannot trade a gold turn for a regular item.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

# On average one item in GOLD_EVERY is a gold prompt (when one is left for the annotator).
GOLD_EVERY = 5
_SCALE = 2**64


def _draw(seed: str, message: str) -> int:
    digest = hmac.new(seed.encode(), message.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big")


def is_gold_turn(seed: str, annotator_id: int, item_number: int) -> bool:
    """Whether the annotator's item number `item_number` (0-based) is a gold turn."""
    return _draw(seed, f"turn:{annotator_id}:{item_number}") * GOLD_EVERY < _SCALE


def gold_order(seed: str, annotator_id: int, prompt_ids: Iterable[int]) -> list[int]:
    """The gold prompts in the order this annotator meets them."""
    return sorted(prompt_ids, key=lambda pid: (_draw(seed, f"order:{annotator_id}:{pid}"), pid))
