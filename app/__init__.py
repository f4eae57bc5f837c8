"""Ranklab: rank LLM answers in the browser, export reward-model datasets."""

from importlib.metadata import PackageNotFoundError, version

# pyproject.toml is the one place the version is written; the installed metadata carries it.
try:
    __version__ = version("ranklab")
except PackageNotFoundError:  # a bare source tree on PYTHONPATH, never installed
    __version__ = "0+unknown"
