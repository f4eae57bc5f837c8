"""The export `tokenizer` option names one of the server's tokenizers; anything else is a
422 that says nothing about the server's file system."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from app.core.errors import InvalidInput
from app.exports import service, tokenizers
from app.generation.model_files import resolve_model
from tests.factories.export_data import ExportScenario, make_export_scenario

pytestmark = pytest.mark.one_backend  # the tokenizer option's 422s

KEY = "k" * 48


@pytest.fixture
def scenario(session: Session) -> ExportScenario:
    return make_export_scenario(session)


def _plan(session: Session, scenario: ExportScenario, tokenizer_dir: Path | None, **raw):
    return service.parse_options(
        session,
        {"format": "pairs", "prompt_set": [scenario.prompt_set.id], **raw},
        secret_key=KEY,
        default_model="smollm2",
        tokenizer_dir=tokenizer_dir,
    )


@pytest.mark.parametrize(
    "value", ["/etc", "/no/such/model", "../../secret_key", "/", "smollm2/../..", "x" * 400]
)
def test_paths_and_unknown_names_get_the_same_422(
    session: Session, scenario: ExportScenario, tmp_path: Path, value: str
) -> None:
    with pytest.raises(tokenizers.UnknownTokenizer) as caught:
        _plan(session, scenario, tmp_path / "tokenizers", tokenizer=value)
    message = caught.value.message
    assert caught.value.status == 422
    assert "choose one of smollm2" in message
    assert "exist" not in message and str(tmp_path) not in message


def test_the_sets_generation_model_and_the_bundled_one_are_allowed(
    session: Session, scenario: ExportScenario
) -> None:
    assert _plan(session, scenario, None).options.tokenizer == "smollm2"
    assert _plan(session, scenario, None, tokenizer="smollm2").tokenizer_setting == "smollm2"


def test_a_tokenizer_in_the_data_folder_is_chosen_by_name_and_its_path_stays_hidden(
    session: Session, scenario: ExportScenario, tmp_path: Path
) -> None:
    folder = tmp_path / "tokenizers"
    folder.mkdir()
    bundled = resolve_model("smollm2")
    shutil.copy(Path(bundled.path) / bundled.gguf_file, folder / "lab-model.gguf")
    plan = _plan(session, scenario, folder, tokenizer="lab-model.gguf")
    assert plan.options.tokenizer == "lab-model.gguf"
    assert plan.tokenizer_setting == str(folder / "lab-model.gguf")
    rows = list(service.iter_rows(session, plan))
    assert rows and rows[0]["prompt"].endswith("<|im_start|>assistant\n")
    assert str(folder) not in plan.options.filters_summary().__repr__()


def test_a_broken_allowed_tokenizer_is_a_422_without_internals(
    session: Session, scenario: ExportScenario, tmp_path: Path
) -> None:
    folder = tmp_path / "tokenizers"
    (folder / "empty-folder").mkdir(parents=True)
    for _ in range(2):  # the failure is remembered, and answered the same way
        with pytest.raises(InvalidInput) as caught:
            _plan(session, scenario, folder, tokenizer="empty-folder")
        assert caught.value.message == (
            "The tokenizer 'empty-folder' could not be loaded on the server; choose another."
        )
