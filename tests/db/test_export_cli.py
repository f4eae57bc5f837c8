"""`ranklab export` writes the same rows as the API, with a progress bar (SQLite file)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from sqlalchemy.orm import Session

from app.core.db import make_engine
from tests.factories.export_data import ExportScenario, make_export_scenario
from tests.support import databases
from tests.support.server import ranklab_env, run_cli


def _seeded(tmp_path: Path) -> tuple[dict[str, str], ExportScenario]:
    url = databases.migrated(databases.sqlite_url(tmp_path / "cli.db"))
    engine = make_engine(url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            scenario = make_export_scenario(session)
    finally:
        engine.dispose()
    return ranklab_env(tmp_path / "data", url, RANKLAB_SECRET_KEY="s" * 48), scenario


def test_cli_exports_pairs_and_bundle(tmp_path: Path) -> None:
    env, scenario = _seeded(tmp_path)
    out = tmp_path / "pairs.jsonl"
    name = scenario.prompt_set.name
    result = run_cli(
        ["export", "pairs", "--prompt-set", name, "-o", str(out), "--columns", "core"], env
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 14 and set(rows[0]) == {"prompt", "chosen", "rejected"}
    assert "14 rows" in result.stderr  # tqdm's bar and the summary line

    bundle = tmp_path / "bundle.zip"
    result = run_cli(
        [
            "export",
            "consensus",
            "--prompt-set",
            name,
            "-o",
            str(bundle),
            "--bundle",
            "--exclude-flag",
            "unsafe",
            "--test-fraction",
            "0.5",
            "--no-progress",
        ],
        env,
    )
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(bundle) as zf:
        assert sorted(zf.namelist()) == ["README.md", "test.jsonl", "train.jsonl"]
        assert "exclude_flags" in zf.read("README.md").decode()


def test_cli_reports_bad_options(tmp_path: Path) -> None:
    env, _ = _seeded(tmp_path)
    out = tmp_path / "x.jsonl"
    unknown = run_cli(["export", "pairs", "--prompt-set", "nope", "-o", str(out)], env)
    assert unknown.returncode == 2 and "No prompt set 'nope'" in unknown.stderr
    bad = run_cli(
        ["export", "pairs", "--prompt-set", "nope", "--test-fraction", "1.5", "-o", str(out)], env
    )
    assert bad.returncode == 2 and "test_fraction" in bad.stderr
    assert not out.exists()
