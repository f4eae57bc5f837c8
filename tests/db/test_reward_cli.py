"""`ranklab rm` as a real process: refusals exit 2 with the reason, list shows versions."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from app.core.db import make_engine
from app.reward.models import RewardModel
from tests.factories.reward import make_ranked_set, make_version
from tests.support import databases
from tests.support.server import ranklab_env, run_cli


def test_rm_commands_refuse_clearly_and_list_versions(tmp_path: Path) -> None:
    url = databases.migrated(databases.sqlite_url(tmp_path / "cli.db"))
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        ps = make_ranked_set(session, prompts=2, name="cli set")
        make_version(session, ps, metrics={"test": {"accuracy": 0.75, "ci95": [0.6, 0.9]}})
    engine.dispose()
    env = ranklab_env(tmp_path / "data", url)

    train = run_cli(["rm", "train", "--prompt-set", "cli set"], env)
    assert train.returncode == 2
    assert "needs at least 50 comparisons (has 24)" in train.stderr

    bad = run_cli(["rm", "train", "--prompt-set", "cli set", "--option", "ensemble=0"], env)
    assert bad.returncode == 2 and "ensemble" in bad.stderr

    score = run_cli(["rm", "score", "--prompt-set", "cli set"], env)
    assert score.returncode == 2 and "has no active reward model" in score.stderr

    missing = run_cli(["rm", "list", "--prompt-set", "nope"], env)
    assert missing.returncode == 2 and "'nope' does not exist" in missing.stderr

    listing = run_cli(["rm", "list"], env)
    assert listing.returncode == 0, listing.stderr
    row = listing.stdout.splitlines()[1].split("\t")
    assert row[2:4] == ["fast", "done"] and row[5] == "0.75"
    with Session(make_engine(url)) as session:
        assert session.query(RewardModel).count() == 1  # the refusals wrote nothing
