"""Rate limits on guessing (login, invite links) and on API use per token.

Built on the `limits` library with moving windows. Counters live in this process
(`memory://`): nothing to run or migrate, and a restart forgets them. With several app
processes behind a load balancer each keeps its own counters, so an attacker gets at
most N times the limit; docs/security.md says so. (`limits` has no PostgreSQL storage;
a Redis URL would share them, see the `rate_limit_storage` setting.)

Login and invite attempts count only failures, per account and per client address, in
several windows at once ("5/minute;20/hour"): a few wrong passwords lock the account for
the rest of a minute, many lock it for the rest of the hour, so the delay grows with
the guessing. A correct password clears the account's counters.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from fastapi import Request
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from app.core.errors import AppError


class RateLimited(AppError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)
        self.headers = {"Retry-After": str(self.retry_after)}


def parse_limits(value: str) -> list[RateLimitItem]:
    """ "5/minute;20/hour" -> items; "" -> no limit. Raises ValueError on bad syntax."""
    return list(parse_many(value)) if value.strip() else []


class RateLimits:
    def __init__(
        self,
        *,
        login_per_account: str,
        login_per_address: str,
        api_per_token: str,
        storage_uri: str = "memory://",
    ) -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))
        self._per_account = parse_limits(login_per_account)
        self._per_address = parse_limits(login_per_address)
        self._per_token = parse_limits(api_per_token)

    def _retry_after(self, items: Sequence[RateLimitItem], *key: str) -> int | None:
        """Seconds until every exhausted window has room again; None if none is exhausted."""
        waits = [
            self._limiter.get_window_stats(item, *key).reset_time - time.time()
            for item in items
            if not self._limiter.test(item, *key)
        ]
        return math.ceil(max(waits)) if waits else None

    def check_guessing(self, scope: str, *, account: str, address: str) -> None:
        """Refuse before checking a password (or invite) while either key is locked."""
        waits = [
            w
            for w in (
                self._retry_after(self._per_account, scope, "account", account),
                self._retry_after(self._per_address, scope, "address", address),
            )
            if w is not None
        ]
        if waits:
            wait = max(waits)
            raise RateLimited(
                f"Too many failed attempts; try again in {wait} seconds.", retry_after=wait
            )

    def guess_failed(self, scope: str, *, account: str, address: str) -> None:
        for item in self._per_account:
            self._limiter.hit(item, scope, "account", account)
        for item in self._per_address:
            self._limiter.hit(item, scope, "address", address)

    def guess_succeeded(self, scope: str, *, account: str) -> None:
        for item in self._per_account:
            self._limiter.clear(item, scope, "account", account)

    def check_address(self, scope: str, *, address: str) -> None:
        """Refuse while the client address is locked (a scope with no account, such as a
        single sign-on callback, whose account is known only once it succeeded)."""
        wait = self._retry_after(self._per_address, scope, "address", address)
        if wait is not None:
            raise RateLimited(
                f"Too many failed attempts; try again in {wait} seconds.", retry_after=wait
            )

    def address_failed(self, scope: str, *, address: str) -> None:
        for item in self._per_address:
            self._limiter.hit(item, scope, "address", address)

    def check_api_token(self, token_id: int) -> None:
        """Count one API call against the token's limit; 429 when it is used up."""
        for item in self._per_token:
            if not self._limiter.hit(item, "api-token", str(token_id)):
                wait = self._retry_after([item], "api-token", str(token_id)) or 1
                raise RateLimited(
                    f"This API token made more than {item} requests; "
                    f"slow down and retry in {wait} seconds.",
                    retry_after=wait,
                )


def client_address(request: Request) -> str:
    """The caller's address for per-address limits (behind a proxy, uvicorn's
    --forwarded-allow-ips makes this the real client; see docs/security.md)."""
    return request.client.host if request.client else "unknown"
