"""A real OpenID Connect provider (the `oidc-provider-mock` package) in its own process on a
free loopback port, for the single sign-on tests.

It is a Flask app built on Authlib's authorization server: discovery, JWKS, RS256-signed ID
tokens, authorization codes. Any client id and secret are accepted. A test chooses who
signs in by posting `sub` to the authorization endpoint (what its login form does) and
sets that person's claims beforehand with `PUT /users/<sub>` (a JSON object).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.support.server import free_port


@dataclass
class OidcProviderProcess:
    issuer: str
    process: subprocess.Popen

    def set_user(self, sub: str, claims: dict[str, Any]) -> None:
        """The claims the provider puts in this subject's ID tokens from now on."""
        response = httpx.put(f"{self.issuer}/users/{sub}", json=claims, timeout=5)
        assert response.status_code == 204, response.text

    def approve(self, authorize_url: str, sub: str) -> str:
        """Sign in at the provider as `sub` (its login form's POST) and return where the
        provider sends the browser: our callback URL with the code and state."""
        assert authorize_url.startswith(self.issuer + "/oauth2/authorize"), authorize_url
        response = httpx.post(authorize_url, data={"sub": sub}, timeout=5)
        assert response.status_code == 302, response.text
        return response.headers["location"]

    def tokens_for(self, *, client_id: str, sub: str, nonce: str) -> dict[str, Any]:
        """A code flow of our own against the provider (any client id), for tests that
        need a genuine token issued to some client."""
        redirect = "http://127.0.0.1/elsewhere"
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect,
            "scope": "openid email profile",
            "state": "s",
            "nonce": nonce,
        }
        authorize = str(httpx.URL(f"{self.issuer}/oauth2/authorize", params=query))
        code = parse_qs(urlsplit(self.approve(authorize, sub)).query)["code"][0]
        response = httpx.post(
            f"{self.issuer}/oauth2/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect},
            auth=(client_id, "any-secret"),
            timeout=5,
        )
        assert response.status_code == 200, response.text
        return response.json()


@contextmanager
def running_provider(log_path: Path) -> Iterator[OidcProviderProcess]:
    """Start the provider (nonces required, as our client always sends one) and wait for
    its discovery document; stop it afterwards."""
    port = free_port()
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "oidc_provider_mock", "--port", str(port), "--require-nonce"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        provider = OidcProviderProcess(f"http://127.0.0.1:{port}", process)
        try:
            _wait_until_ready(provider, log_path)
            yield provider
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_ready(provider: OidcProviderProcess, log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if provider.process.poll() is not None:
            raise RuntimeError(f"the OIDC provider exited:\n{log_path.read_text()}")
        try:
            url = provider.issuer + "/.well-known/openid-configuration"
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the OIDC provider did not start:\n{log_path.read_text()}")
