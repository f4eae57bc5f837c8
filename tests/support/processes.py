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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
_CALL = (
    "import importlib, json, sys\n"
    "function = getattr(importlib.import_module(sys.argv[1]), sys.argv[2])\n"
    "print(json.dumps(function(*json.loads(sys.argv[3]))))\n"
)


def call_in_fresh_process(function: str, *args: Any, hash_seed: int) -> Any:
    """`module:name`(*args) in a new Python under PYTHONHASHSEED=hash_seed; the result
    comes back through JSON (tuples as lists), the arguments go the same way."""
    module, name = function.split(":")
    env = os.environ | {"PYTHONHASHSEED": str(hash_seed)}
    done = subprocess.run(
        [sys.executable, "-c", _CALL, module, name, json.dumps(args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
