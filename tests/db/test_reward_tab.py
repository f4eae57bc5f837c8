"""The Reward model tab shows inter-annotator agreement and the majority of the other
annotators side by side, each with its n and CI (issue 20, item 9), and still renders a
version trained before, whose metrics hold only the old "ceiling" agreement."""

from __future__ import annotations

from tests.factories.accounts import DEFAULT_PASSWORD, make_user
from tests.factories.reward import make_ranked_set, make_version
from tests.support.http import login

NEW = {
    "test": {"accuracy": 0.81, "ci95": [0.74, 0.88], "pairs": 120, "prompts": 10},
    "human": {
        "inter_annotator_agreement": {"agreement": 0.62, "ci95": [0.55, 0.7], "pairs": 96},
        "majority_accuracy": {"accuracy": 0.84, "ci95": [0.77, 0.9], "pairs": 96},
        "model_accuracy": {"accuracy": 0.8, "ci95": [0.72, 0.87], "pairs": 96},
    },
    "learning_curve": [
        {"comparisons": 16, "accuracy": 0.6, "ci95": [0.5, 0.7]},
        {"comparisons": 64, "accuracy": 0.75, "ci95": [0.66, 0.83]},
    ],
}
OLD = {"test": {"accuracy": 0.7, "ci95": [0.6, 0.8], "pairs": 50}, "ceiling": {"agreement": 0.77}}


def _tab(client, session, ps) -> str:
    admin = make_user(session, role="admin")
    assert login(client, admin.username, DEFAULT_PASSWORD).status_code == 303
    page = client.get(f"/admin/prompt-sets/{ps.id}/reward-model")
    assert page.status_code == 200
    return page.text


def test_the_tab_shows_agreement_and_majority_accuracy_side_by_side(client, session):
    ps = make_ranked_set(session, prompts=2)
    old = make_version(session, ps, metrics=OLD)
    new = make_version(session, ps, metrics=NEW, active=True)
    html = _tab(client, session, ps)
    assert "ceiling" not in html.lower()
    assert "<th>Inter-annotator agreement</th><th>Majority of the other annotators</th>" in html
    assert "inter-annotator agreement</text>" in html
    assert "majority of the other annotators</text>" in html
    assert "62.0% [55.0%, 70.0%] n=96" in html and "84.0% [77.0%, 90.0%] n=96" in html
    assert "reward model, same pairs as humans" in html and "80.0% [72.0%, 87.0%] n=96" in html
    assert html.count('data-guide="') == 2
    row_new = html[html.index(f'data-version="{new.id}"') :]
    assert '<td data-cell="agreement">62.0%</td>' in row_new
    assert '<td data-cell="majority">84.0%</td>' in row_new
    # The older version renders its stored agreement under the new name, no majority.
    row_old = html[html.index(f'data-version="{old.id}"') :]
    assert '<td data-cell="agreement">77.0%</td>' in row_old
    assert '<td data-cell="majority">–</td>' in row_old


def test_a_version_with_only_old_metrics_is_shown_without_error(client, session):
    ps = make_ranked_set(session, prompts=2)
    make_version(session, ps, metrics=OLD, active=True)
    html = _tab(client, session, ps)
    assert "inter-annotator agreement</text>" in html and "77.0% n=" not in html
    assert "majority of the other annotators</text>" not in html
