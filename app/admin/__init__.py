"""Admin pages and APIs that combine several domains: a prompt set's dashboard and
annotator table, a prompt's page, and people with their statistics.

This is the layer above exports in the contract in pyproject.toml: the domains below it
never import it.
"""
