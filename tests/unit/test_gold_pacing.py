"""Gold pacing (issue 20, item 1): the rate, per-annotator places and orders, pinned values
(a keyed hash, so the same in every process), and the server's time on an item (item 2)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from app.annotation import gold_pacing
from app.annotation.submission import seconds_on_item

SEED = "pinned-seed"


def test_gold_turns_keep_the_rate_of_one_in_gold_every() -> None:
    turns = [gold_pacing.is_gold_turn(SEED, a, n) for a in range(1, 51) for n in range(200)]
    # 10,000 draws: the standard error of the share is 0.004.
    assert abs(sum(turns) / len(turns) - 1 / gold_pacing.GOLD_EVERY) < 0.015


def test_turns_and_orders_are_pinned_and_differ_by_annotator_and_seed() -> None:
    turns = [n for n in range(20) if gold_pacing.is_gold_turn(SEED, 7, n)]
    assert turns == [5, 11, 12]  # not every fifth item
    assert [n for n in range(20) if gold_pacing.is_gold_turn(SEED, 8, n)] != turns
    assert [n for n in range(20) if gold_pacing.is_gold_turn("other", 7, n)] != turns
    ids = [11, 12, 13, 14, 15]
    assert gold_pacing.gold_order(SEED, 7, ids) == [13, 14, 12, 15, 11]
    assert gold_pacing.gold_order(SEED, 8, ids) == [12, 11, 14, 15, 13]
    assert gold_pacing.gold_order(SEED, 7, ids[::-1]) == [13, 14, 12, 15, 11]


def test_time_on_an_item_is_the_lease_time_within_its_length() -> None:
    start = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
    lease = SimpleNamespace(leased_at=start, lease_expires_at=start + dt.timedelta(seconds=60))
    assert seconds_on_item(lease, start + dt.timedelta(seconds=1.5)) == 1.5
    assert seconds_on_item(lease, start + dt.timedelta(seconds=600)) == 60
    assert seconds_on_item(lease, start - dt.timedelta(seconds=5)) == 0
