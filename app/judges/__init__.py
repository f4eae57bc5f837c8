"""LLM judges: versioned rubric + model settings that rank a prompt's candidates.

A judge's rankings are *judge annotations*: kept in their own table (`judge_ranking`),
never in `annotation`, so nothing that counts human work (k, agreement, annotator
stats, tallies, default exports) can count them by accident. Exports and reports that
want them ask for them by origin (`judge`).
"""
