"""Small helpers for driving the app over HTTP like a browser would."""

from __future__ import annotations

import re

import httpx
from fastapi.testclient import TestClient

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def csrf_from(html: str) -> str:
    match = CSRF_META.search(html)
    assert match, "page has no csrf-token meta tag"
    return match.group(1)


def login(client: TestClient | httpx.Client, username: str, password: str) -> httpx.Response:
    """Log in through the real form; return the final response. The client keeps the cookie."""
    page = client.get("/login")
    token = csrf_from(page.text)
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        follow_redirects=False,
    )


def page_csrf(client: TestClient | httpx.Client, path: str = "/login") -> str:
    return csrf_from(client.get(path).text)
