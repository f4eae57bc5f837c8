"""Ranking by typing letters in a real browser (issue 11): ties, undo, clear, the implicit
last response, two-candidate sets, the untouched-order confirm, scrolling a long answer."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.annotation.models import Annotation
from app.core.db import make_engine
from app.prompt_sets.models import Prompt
from tests.support.annotation_seed import seed_prompt_set
from tests.support.server import LiveServer, ranklab_env, run_cli, start_server

LONG = "\n\n".join(f"Paragraph {i} of a long answer. " + "Words to read. " * 30 for i in range(40))


def _items(n: int, candidates: int, tag: str) -> list[tuple[str, list[str]]]:
    return [
        (f"{tag} question {i}?", [f"{tag} answer {i}.{j}" for j in range(candidates)])
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def typed_server(tmp_path_factory) -> Iterator[tuple[LiveServer, str, str, dict[str, int]]]:
    data = tmp_path_factory.mktemp("typed") / "data"
    env = ranklab_env(data)
    demo = run_cli(["demo"], env)
    assert demo.returncode == 0, demo.stderr
    password = re.search(r"^\s+annotator\s+password: (\S+)$", demo.stdout, flags=re.M).group(1)
    url = f"sqlite:///{data / 'ranklab.db'}"
    sets = {
        "four": seed_prompt_set(url, name="Four", items=_items(8, 4, "Four")),
        "pair": seed_prompt_set(url, name="Pair", items=_items(3, 2, "Pair")),
        "shown": seed_prompt_set(
            url, name="Shown", items=_items(2, 3, "Shown"), confirm_untouched_order=False
        ),
        "long": seed_prompt_set(
            url, name="Long", items=[("Read this", [LONG, "Short B", "Short C"])]
        ),
    }
    server = start_server(env, data.parent / "server.log")
    yield server, url, password, sets
    server.stop()


def _open(page: Page, typed_server, which: str, *, login: bool = True) -> dict[str, int]:
    """Log in, open the set's ranking page; returns {label: candidate id} of the item."""
    server, _, password, sets = typed_server
    page.set_viewport_size({"width": 1280, "height": 800})
    if login:
        page.goto(server.base_url + "/login")
        page.get_by_label("Username").fill("annotator")
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
    page.goto(f"{server.base_url}/annotate/{sets[which]}")
    expect(page.locator(".rank-row").first).to_be_visible()
    return _ids(page)


def _start(page: Page, typed_server, which: str) -> tuple[dict[str, int], str, int, int]:
    """Open the set's page: (ids by label, database url, set id, annotations so far)."""
    _, url, _, sets = typed_server
    ids = _open(page, typed_server, which)
    return ids, url, sets[which], len(_saved(url, sets[which]))


def _ids(page: Page) -> dict[str, int]:
    pairs = page.locator(".rank-row").evaluate_all(
        "rows => rows.map(r => [r.dataset.label, Number(r.dataset.cid)])"
    )
    return dict(pairs)


def _order(page: Page) -> str:
    return "".join(page.locator(".rank-row").evaluate_all("rs => rs.map(r => r.dataset.label)"))


def _ranks(page: Page) -> str:
    return " ".join(page.locator("[data-rank-no]").all_inner_texts())


def _saved(url: str, set_id: int) -> list[Annotation]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return list(
                session.scalars(
                    select(Annotation)
                    .join(Prompt, Prompt.id == Annotation.prompt_id)
                    .where(Prompt.prompt_set_id == set_id)
                    .order_by(Annotation.id)
                )
            )
    finally:
        engine.dispose()


def _press(page: Page, keys: str) -> int:
    """Press each space-separated key; returns how many were pressed."""
    names = keys.split()
    for name in names:
        page.keyboard.press(name)
    return len(names)


def test_rank_four_and_submit_in_five_keystrokes_or_four_with_the_implicit_last(
    page: Page, typed_server
) -> None:
    _, url, _, sets = typed_server
    ids = _open(page, typed_server, "four")
    # On load the ranking has focus: no Tab presses before the first letter.
    assert page.evaluate("document.activeElement.matches('[data-ranking]')")
    keystrokes = _press(page, "c a d b Enter")
    assert keystrokes == 5  # issue 11's target: rank four + submit in <= 5
    expect(page.locator("[data-counter]")).to_contain_text("Done today: 1")
    saved = _saved(url, sets["four"])
    assert saved[-1].ranking == [[ids[x]] for x in "CADB"]
    assert saved[-1].order_changed is True

    ids = _ids(page)
    assert page.evaluate("document.activeElement.matches('[data-ranking]')")
    assert _press(page, "c a d Enter") == 4  # B, the last one, is implicit
    expect(page.locator("[data-counter]")).to_contain_text("Done today: 2")
    assert _saved(url, sets["four"])[-1].ranking == [[ids[x]] for x in "CADB"]


def test_typed_tie_undo_clear_and_enter_waits_until_all_are_placed(
    page: Page, typed_server
) -> None:
    ids, url, set_id, before = _start(page, typed_server, "four")
    _press(page, "d b")
    assert _order(page) == "DBAC"
    page.keyboard.press("Enter")  # A and C are both unplaced: nothing is sent
    expect(page.locator("[data-live]")).to_contain_text("Place A, C first")
    page.keyboard.press("Backspace")  # B taken back
    assert _order(page) == "DABC"
    page.keyboard.press("Escape")  # everything cleared: the shown order again
    assert _order(page) == "ABCD" and _ranks(page) == "1 2 3 4"
    _press(page, "c = a")  # C and A tie for first
    assert _order(page) == "CABD" and _ranks(page) == "1 1= 2 3"
    expect(page.locator("[data-typed]")).to_have_text("Typed: C = A")
    _press(page, "d Enter")
    expect(page.locator("[data-counter]")).to_contain_text(f"Done today: {before + 1}")
    saved = _saved(url, set_id)[-1]
    assert saved.ranking == [sorted([ids["C"], ids["A"]]), [ids["D"]], [ids["B"]]]


def test_untouched_order_needs_a_confirm_unless_the_set_turns_it_off(
    page: Page, typed_server
) -> None:
    ids, url, set_id, before = _start(page, typed_server, "four")
    page.keyboard.press("Enter")
    confirm = page.get_by_role("alertdialog")
    expect(confirm).to_be_visible()
    expect(confirm).to_contain_text("A > B > C > D")
    assert len(_saved(url, set_id)) == before  # nothing sent
    page.keyboard.press("Escape")
    expect(confirm).to_be_hidden()
    page.keyboard.press("Enter")
    expect(confirm).to_be_visible()
    page.keyboard.press("Enter")  # "Submit as shown" has focus
    expect(page.locator("[data-counter]")).to_contain_text(f"Done today: {before + 1}")
    saved = _saved(url, set_id)[-1]
    assert saved.ranking == [[ids[x]] for x in "ABCD"] and saved.order_changed is False

    sets = typed_server[3]
    ids = _open(page, typed_server, "shown", login=False)
    page.keyboard.press("Enter")  # this set's shown order is meaningful: no confirm
    expect(page.locator("[data-counter]")).to_contain_text("Done today: 1")
    saved = _saved(url, sets["shown"])[-1]
    assert saved.ranking == [[ids[x]] for x in "ABC"] and saved.order_changed is False


def test_two_candidates_side_by_side_decide_in_one_key(page: Page, typed_server) -> None:
    _, url, _, sets = typed_server
    ids = _open(page, typed_server, "pair")
    a, b = page.locator(".cand").all()
    box_a, box_b = a.bounding_box(), b.bounding_box()
    assert box_a["y"] == box_b["y"] and box_a["x"] < box_b["x"]  # side by side
    _press(page, "b Enter")
    expect(page.locator("[data-counter]")).to_contain_text("Done today: 1")
    assert _saved(url, sets["pair"])[-1].ranking == [[ids["B"]], [ids["A"]]]
    ids = _ids(page)
    _press(page, "Equal Enter")  # `=` alone: the two are equally good
    expect(page.locator("[data-counter]")).to_contain_text("Done today: 2")
    assert _saved(url, sets["pair"])[-1].ranking == [sorted(ids.values())]
    ids = _ids(page)
    page.get_by_role("button", name="A is better").click()
    page.get_by_role("button", name="Submit ranking").click()
    expect(page.locator("[data-counter]")).to_contain_text("Done today: 3")
    assert _saved(url, sets["pair"])[-1].ranking == [[ids["A"]], [ids["B"]]]


def test_keys_list_and_a_long_answer_scrolled_and_expanded_by_keyboard(
    page: Page, typed_server
) -> None:
    _open(page, typed_server, "long")
    page.keyboard.press("?")
    expect(page.locator("[data-keys]")).to_be_visible()
    page.keyboard.press("?")
    expect(page.locator("[data-keys]")).to_be_hidden()
    long = page.locator(".cand").filter(has_text="Paragraph 0 of a long answer")
    label = long.get_attribute("data-label")
    body = long.locator("[data-cand-body]")
    # Reachable with Tab: from the prompt, through the answers and their flag boxes.
    page.locator(".prompt h2").click()
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('aria-label')") == (
            f"Text of response {label}"
        ):
            break
    else:
        raise AssertionError(f"Tab never reached the text of response {label}")
    assert body.evaluate("b => b.scrollTop") == 0
    page.keyboard.press("Space")
    page.wait_for_function("document.activeElement.scrollTop > 0")
    down = body.evaluate("b => b.scrollTop")
    page.keyboard.press("Shift+Space")
    page.wait_for_function(f"document.activeElement.scrollTop < {down}")
    page.keyboard.press("x")  # the whole answer, in place
    assert body.evaluate("b => b.scrollHeight <= b.clientHeight + 1")
    expect(long.locator("[data-expand]")).to_have_attribute("aria-expanded", "true")
