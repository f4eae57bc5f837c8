from __future__ import annotations

import pytest

from app.core.config import Settings
from app.core.security import (
    csrf_matches,
    hash_api_token,
    hash_password,
    new_api_token,
    verify_password,
)


def test_password_hash_round_trip_and_refuses_wrong_password() -> None:
    stored = hash_password("s3cret-pass")
    assert stored.startswith("$argon2")
    assert verify_password(stored, "s3cret-pass")
    assert not verify_password(stored, "other-pass")
    assert not verify_password("not-a-hash", "s3cret-pass")


def test_api_tokens_are_random_and_stored_hashed() -> None:
    a, b = new_api_token(), new_api_token()
    assert a != b and a.startswith("rk_")
    assert hash_api_token(a) != a and len(hash_api_token(a)) == 64


@pytest.mark.parametrize(
    ("expected", "given", "ok"),
    [("t", "t", True), ("t", "u", False), ("t", None, False), (None, "t", False)],
)
def test_csrf_matches(expected, given, ok) -> None:
    assert csrf_matches(expected, given) is ok


def test_secret_key_is_generated_once_and_persisted(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="")
    first = settings.resolved_secret_key()
    assert len(first) >= 32
    assert Settings(data_dir=tmp_path, secret_key="").resolved_secret_key() == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_short_secret_key_is_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="at least 32"):
        Settings(data_dir=tmp_path, secret_key="short").resolved_secret_key()


def test_default_database_is_sqlite_in_the_data_folder(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path, database_url="")
    assert settings.sqlalchemy_url == f"sqlite:///{tmp_path.resolve() / 'ranklab.db'}"
