"""Rate limits on guessing (login, invite links) and on API use per token.

Built on the `limits` library with moving windows. By default the counters live in this
process (`memory://`): nothing to run or migrate, and a restart forgets them. Several app
processes (`ranklab serve --workers N`, compose replicas) share them through Redis
(RANKLAB_RATE_LIMIT_STORAGE=redis://host:6379, issue 23): otherwise each process keeps
its own and an attacker gets N times the limit. (`limits` has no PostgreSQL storage.)

When the shared store does not answer, login and invite checks fail closed with a 503
(`RateLimitStoreDown`): letting guesses through unthrottled would be the attack's wish.
API-token budgets fail open and are logged: the caller has already proved who it is, and
a Redis outage should not stop every script. docs/security.md says both.

Login and invite attempts count only failures, per account and per client address, in
several windows at once ("5/minute;20/hour"): a few wrong passwords lock the account for
the rest of a minute, many lock it for the rest of the hour, so the delay grows with
the guessing. A correct password clears the account's counters.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from fastapi import Request
from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from app.core.errors import AppError

log = logging.getLogger("ranklab.rate_limits")
T = TypeVar("T")
# A store that hangs must not hang the login: answer 503 after this long instead.
REDIS_TIMEOUT_SECONDS = 2.0


class RateLimited(AppError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)
        self.headers = {"Retry-After": str(self.retry_after)}


class RateLimitStoreDown(AppError):
    status = 503
    code = "rate_limit_store_down"

    def __init__(self) -> None:
        super().__init__(
            "Logins are paused: the shared rate-limit store (RANKLAB_RATE_LIMIT_STORAGE) "
            "does not answer, and attempts are not let through unthrottled. Try again in "
            "a minute; an administrator should check that Redis is running."
        )
        self.headers = {"Retry-After": "30"}


def _count_store_error(scope: str) -> None:
    # Imported here: Settings validates limit syntax through this module, and
    # `ranklab serve --workers N` reads Settings before prometheus-client may be imported.
    from app.core.metrics import RATE_LIMIT_STORE_ERRORS

    RATE_LIMIT_STORE_ERRORS.labels(scope).inc()


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
        options: dict[str, float] = {}
        if storage_uri.startswith(("redis://", "rediss://", "redis+unix://")):
            options = {
                "socket_timeout": REDIS_TIMEOUT_SECONDS,
                "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
            }
        storage = storage_from_string(storage_uri, wrap_exceptions=True, **options)
        self._limiter = MovingWindowRateLimiter(storage)
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

    def _guarded(self, scope: str, action: Callable[[], T]) -> T:
        """Run a guessing check or count; a store that does not answer refuses (503)."""
        try:
            return action()
        except StorageError as exc:
            _count_store_error(scope)
            log.error("rate-limit store failed during %s: %s", scope, exc.storage_error)
            raise RateLimitStoreDown() from exc

    def check_guessing(self, scope: str, *, account: str, address: str) -> None:
        """Refuse before checking a password (or invite) while either key is locked."""
        self._guarded(scope, lambda: self._check_guessing(scope, account, address))

    def _check_guessing(self, scope: str, account: str, address: str) -> None:
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
        self._guarded(scope, lambda: self._count_failure(scope, account, address))

    def _count_failure(self, scope: str, account: str, address: str) -> None:
        for item in self._per_account:
            self._limiter.hit(item, scope, "account", account)
        for item in self._per_address:
            self._limiter.hit(item, scope, "address", address)

    def guess_succeeded(self, scope: str, *, account: str) -> None:
        def clear() -> None:
            for item in self._per_account:
                self._limiter.clear(item, scope, "account", account)

        self._guarded(scope, clear)

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
        """Count one API call against the token's limit; 429 when it is used up. A store
        that does not answer lets the call through (see the module's docstring)."""
        try:
            self._check_api_token(token_id)
        except StorageError as exc:
            _count_store_error("api-token")
            log.warning("rate-limit store failed; API call let through: %s", exc.storage_error)

    def _check_api_token(self, token_id: int) -> None:
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
