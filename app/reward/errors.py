"""Reward-model errors: each says what is wrong and what to do."""

from __future__ import annotations

from app.core.errors import Conflict, InvalidInput, NotFound


class RewardModelNotFound(NotFound):
    code = "reward_model_not_found"


class NotEnoughComparisons(Conflict):
    code = "not_enough_comparisons"


class NoActiveRewardModel(Conflict):
    code = "no_active_reward_model"


class RewardModelNotReady(Conflict):
    code = "reward_model_not_ready"


class OverTimeBudget(Conflict):
    code = "over_time_budget"


class InvalidRewardOptions(InvalidInput):
    code = "invalid_reward_options"


class TrainingCancelled(Exception):
    """Raised inside a training run when its version was cancelled."""
