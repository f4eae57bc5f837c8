"""Annotator pseudonyms: stable across exports, never a username.

HMAC-SHA256 keyed with the server's secret key over the user id: the same person gets the
same pseudonym in every export of this installation, and without the key nobody can map a
pseudonym back to an account (the id space is small, so a plain hash would be reversible).
"""

from __future__ import annotations

import hashlib
import hmac

PSEUDONYM_PREFIX = "ann-"


def pseudonym(secret_key: str, user_id: int) -> str:
    digest = hmac.new(secret_key.encode(), f"annotator:{user_id}".encode(), hashlib.sha256)
    return PSEUDONYM_PREFIX + digest.hexdigest()[:16]
