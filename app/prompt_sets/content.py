"""What a prompt is: text or chat messages, and the hash that makes it unique in a set."""

from __future__ import annotations

import hashlib
import json
from typing import Any

CHAT_ROLES = ("system", "user", "assistant")


def normalise_text(text: str) -> str:
    return text.replace("\r\n", "\n").strip()


def content_hash(text: str | None, messages: list[dict[str, Any]] | None) -> str:
    """SHA-256 over the normalised content; the same prompt imported twice hashes the same.

    Only role and content count: metadata and external ids do not make a prompt different.
    """
    if text is not None:
        payload: Any = {"text": normalise_text(text)}
    else:
        payload = {
            "messages": [
                {"role": m["role"], "content": normalise_text(m["content"])} for m in messages or []
            ]
        }
    encoded = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


def as_messages(
    text: str | None, messages: list[dict[str, Any]] | None, system_prompt: str = ""
) -> list[dict[str, str]]:
    """The prompt as a chat, with the set's system prompt first unless the chat has one."""
    chat = (
        [{"role": "user", "content": text}]
        if text is not None
        else [{"role": m["role"], "content": m["content"]} for m in messages or []]
    )
    if system_prompt and not (chat and chat[0]["role"] == "system"):
        chat.insert(0, {"role": "system", "content": system_prompt})
    return chat
