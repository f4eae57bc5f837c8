"""Call one function in a fresh interpreter, for tests of determinism across processes.

Comparing `f(x) == f(x)` inside one process cannot catch a result that depends on the
process (string hashing under PYTHONHASHSEED, set order, id()): both calls see the same
seed. Calling it again under another seed can (issue 20, item 14).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
_CALLS = (
    "import importlib, json, sys\n"
    "function = getattr(importlib.import_module(sys.argv[1]), sys.argv[2])\n"
    "print(json.dumps([function(*args) for args in json.loads(sys.argv[3])]))\n"
)


def calls_in_fresh_process(
    function: str, calls: Sequence[Sequence[Any]], *, hash_seed: int
) -> list[Any]:
    """`module:name`(*args) for each args of `calls`, in one new Python under
    PYTHONHASHSEED=hash_seed. Arguments and results travel as JSON (tuples as lists)."""
    module, name = function.split(":")
    env = os.environ | {"PYTHONHASHSEED": str(hash_seed)}
    done = subprocess.run(
        [sys.executable, "-c", _CALLS, module, name, json.dumps(calls)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
