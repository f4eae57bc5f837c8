"""`ranklab serve --workers N` sets up prometheus-client's multi-process folder before
anything imports the library (issue 23), and empties what an earlier run left there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
from pathlib import Path
from app.cli.serve import use_multiprocess_metrics
folder = use_multiprocess_metrics(Path(sys.argv[1]))
from prometheus_client import values
from app.core.metrics import ANNOTATIONS
ANNOTATIONS.inc()
print(folder, values.ValueClass.__name__, *sorted(p.name for p in folder.iterdir()))
"""


def test_serve_prepares_an_empty_multiprocess_folder_before_the_library_loads(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "prometheus-multiproc"
    folder.mkdir()
    (folder / "counter_12345.db").write_bytes(b"stale counts of a dead process")
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    where, value_class, *files = result.stdout.split()
    assert where == str(folder)  # the default: under the data folder
    assert value_class == "MmapedValue"  # counters go to files every process can read
    # The earlier run's file is gone; the new process wrote its own.
    assert "counter_12345.db" not in files
    assert len(files) == 1 and files[0].startswith("counter_"), files
