"""Reward models trained on a prompt set's comparisons, their scores, and routing by them."""
