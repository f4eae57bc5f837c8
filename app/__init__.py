"""Ranklab: rank LLM answers in the browser, export reward-model datasets."""

__version__ = "0.1.0"
