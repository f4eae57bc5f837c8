"""The gold pacing rule written out as a plain loop, for tests that predict an annotator's
item kinds (app.annotation.gold_pacing, issue 20)."""

from __future__ import annotations

from app.annotation import gold_pacing


def expected_kinds(seed: str, annotator_id: int, *, gold: int, regular: int) -> list[bool]:
    """Item by item, whether the claim hands this annotator a gold item (True) when every
    one of `regular` regular prompts has a seat for them: gold on a gold turn while some
    is left, else regular while some is left, else gold."""
    kinds: list[bool] = []
    while gold or regular:
        take_gold = gold > 0 and (
            gold_pacing.is_gold_turn(seed, annotator_id, len(kinds)) or not regular
        )
        kinds.append(take_gold)
        gold, regular = (gold - 1, regular) if take_gold else (gold, regular - 1)
    return kinds
