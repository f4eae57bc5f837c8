"""OpenID Connect as a relying party: discovery, the authorization request (code flow with
PKCE S256, state and nonce), the code exchange, and the ID token's checks.

Authlib builds the authorization request and validates the claims
(`authlib.oidc.core.CodeIDToken`: iss, aud, azp, exp, iat, nonce, at_hash); joserfc, the
JOSE engine Authlib itself uses, checks the signature against the provider's JWKS. The
two back-channel calls (discovery and JWKS, the token endpoint) are plain httpx.
Nothing here touches the database; app.accounts.sso holds the use cases.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from app.core.errors import NotAuthenticated

# Discovery documents change rarely; re-read hourly so a provider's move is picked up.
METADATA_TTL_SECONDS = 3600.0
# A token naming a key we do not have makes us re-read the JWKS (the provider rotated its
# keys), but not more often than this: forged tokens must not turn us into a fetch loop.
JWKS_REFRESH_MIN_SECONDS = 60.0
HTTP_TIMEOUT_SECONDS = 10.0
# Clock difference tolerated between us and the provider for exp and iat.
CLOCK_LEEWAY_SECONDS = 60
# Only public-key signatures: an HS256 token would be "signed" with our own client secret,
# and "none" is no signature at all.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


class SsoFailed(NotAuthenticated):
    """Single sign-on did not prove who the user is (the message says which check failed)."""

    code = "sso_failed"


class ProviderUnavailable(SsoFailed):
    status = 502
    code = "sso_provider_unavailable"


@dataclass(frozen=True)
class ProviderSettings:
    issuer: str
    client_id: str
    client_secret: str
    scopes: str


@dataclass(frozen=True)
class AuthorizationRequest:
    url: str
    state: str
    nonce: str
    code_verifier: str


def new_authorization_secrets() -> tuple[str, str, str]:
    """state, nonce and PKCE code verifier: 48 random URL-safe characters each (RFC 7636
    wants 43-128 for the verifier)."""
    return generate_token(48), generate_token(48), generate_token(48)


class OidcProvider:
    """One configured provider; caches its discovery document and keys (thread-safe: the
    sync routes run in a thread pool)."""

    def __init__(self, settings: ProviderSettings, *, http: httpx.Client | None = None) -> None:
        self.settings = settings
        self._http = http or httpx.Client(timeout=HTTP_TIMEOUT_SECONDS)
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = 0.0

    def close(self) -> None:
        self._http.close()

    # --- discovery -----------------------------------------------------------------------

    def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            response = self._http.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnavailable(
                f"The sign-in provider's {what} could not be read ({url}): {exc}"
            ) from exc
        if not isinstance(body, dict):
            raise ProviderUnavailable(f"The sign-in provider's {what} is not a JSON object.")
        return body

    def metadata(self) -> dict[str, Any]:
        with self._lock:
            if self._metadata is not None and time.monotonic() - self._metadata_at < (
                METADATA_TTL_SECONDS
            ):
                return self._metadata
        issuer = self.settings.issuer
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        metadata = self._get_json(url, "discovery document")
        # OpenID Connect Discovery 1.0, section 4.3: the document must name the issuer we
        # asked; otherwise anyone able to answer at that URL could vouch for other issuers.
        if str(metadata.get("issuer", "")).rstrip("/") != issuer.rstrip("/"):
            raise ProviderUnavailable(
                f"The discovery document at {url} names the issuer "
                f"{metadata.get('issuer')!r}, not the configured {issuer!r}."
            )
        for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(metadata.get(field), str):
                raise ProviderUnavailable(f"The discovery document at {url} has no {field}.")
        with self._lock:
            self._metadata, self._metadata_at = metadata, time.monotonic()
        return metadata

    def _key_set(self, *, refresh: bool = False) -> KeySet:
        with self._lock:
            stale = time.monotonic() - self._keys_at >= JWKS_REFRESH_MIN_SECONDS
            if self._keys is not None and not (refresh and stale):
                return self._keys
        jwks = self._get_json(self.metadata()["jwks_uri"], "signing keys (JWKS)")
        try:
            keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise ProviderUnavailable(f"The sign-in provider's JWKS is unusable: {exc}") from exc
        with self._lock:
            self._keys, self._keys_at = keys, time.monotonic()
        return keys

    def _algorithms(self) -> Collection[str]:
        offered = self.metadata().get("id_token_signing_alg_values_supported") or ["RS256"]
        return sorted(ASYMMETRIC_ALGORITHMS.intersection(offered)) or ["RS256"]

    # --- the flow ------------------------------------------------------------------------

    def authorization_request(self, *, redirect_uri: str) -> AuthorizationRequest:
        """Where to send the browser, and the secrets to keep until it comes back."""
        state, nonce, code_verifier = new_authorization_secrets()
        url = prepare_grant_uri(
            self.metadata()["authorization_endpoint"],
            client_id=self.settings.client_id,
            response_type="code",
            redirect_uri=redirect_uri,
            scope=self.settings.scopes,
            state=state,
            nonce=nonce,
            code_challenge=create_s256_code_challenge(code_verifier),
            code_challenge_method="S256",
        )
        return AuthorizationRequest(url, state, nonce, code_verifier)

    def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str) -> dict[str, Any]:
        """The token endpoint's answer for an authorization code (client_secret_basic)."""
        # RFC 6749, section 2.3.1: id and secret are form-urlencoded before Basic encoding.
        auth = httpx.BasicAuth(
            quote(self.settings.client_id, safe=""), quote(self.settings.client_secret, safe="")
        )
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        }
        url = self.metadata()["token_endpoint"]
        try:
            response = self._http.post(
                url, data=data, auth=auth, headers={"Accept": "application/json"}
            )
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnavailable(
                f"The sign-in provider's token endpoint failed: {exc}"
            ) from exc
        if not isinstance(body, dict):
            raise ProviderUnavailable("The sign-in provider's token answer is not a JSON object.")
        if response.status_code != 200 or "error" in body:
            detail = body.get("error_description") or body.get("error") or response.status_code
            raise SsoFailed(f"The sign-in provider refused the authorization code: {detail}.")
        if not isinstance(body.get("id_token"), str):
            raise SsoFailed("The sign-in provider sent no ID token (is 'openid' in the scopes?).")
        return body

    def verify_id_token(
        self,
        id_token: str,
        *,
        nonce: str,
        access_token: str | None = None,
        now: int | None = None,
    ) -> dict[str, Any]:
        """The ID token's claims once its signature (the provider's JWKS), issuer, audience,
        expiry, issue time and nonce are checked; SsoFailed naming the check otherwise.

        `now` (epoch seconds) is for tests of expiry; the default is the clock."""
        algorithms = self._algorithms()
        registry = JWSRegistry(algorithms=algorithms, strict_check_header=False)
        try:
            try:
                token = jwt.decode(id_token, self._key_set(), registry=registry)
            except InvalidKeyIdError:
                token = jwt.decode(id_token, self._key_set(refresh=True), registry=registry)
        except JoseError as exc:
            raise SsoFailed(
                f"The ID token's signature is not the provider's ({exc.error or exc})."
            ) from exc
        options = {
            "iss": {"essential": True, "value": self.metadata()["issuer"]},
            "aud": {"essential": True, "value": self.settings.client_id},
            "sub": {"essential": True},
        }
        params = {"nonce": nonce, "client_id": self.settings.client_id}
        if access_token:
            params["access_token"] = access_token
        claims = CodeIDToken(token.claims, token.header, options, params)
        try:
            claims.validate(now=now, leeway=CLOCK_LEEWAY_SECONDS)
        except JoseError as exc:
            claim = getattr(exc, "claim", "")
            reason = CLAIM_REFUSALS.get(claim, exc.description or exc.error)
            raise SsoFailed(f"The ID token was refused: {reason}.") from exc
        return dict(claims)


# What a failed claim check means, in words a person at the login page can act on.
CLAIM_REFUSALS = {
    "iss": "it comes from another issuer than the configured one (iss)",
    "aud": "it was issued to another application (aud is not our client id)",
    "azp": "it was issued to another application (azp)",
    "exp": "it has expired (exp)",
    "iat": "its issue time is invalid (iat)",
    "nbf": "it is not valid yet (nbf)",
    "nonce": "it does not belong to this sign-in (nonce)",
    "sub": "it names no subject (sub)",
    "at_hash": "it does not match the access token (at_hash)",
}
