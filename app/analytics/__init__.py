"""Statistics over rankings: votes, agreement, model strengths. The one place for this math."""
