"""Single sign-on in a real browser: Ranklab's login page, a real OpenID Connect provider's
login form (oidc-provider-mock in its own process), back to Ranklab's home page as the
right user, with the role the provider's group claim gives (issue 23, item 1)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, Route, expect

from tests.support.oidc_provider import OidcProviderProcess, running_provider
from tests.support.server import LiveServer, ranklab_env, start_server


@pytest.fixture(scope="module")
def sso_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LiveServer, OidcProviderProcess]]:
    """A server on a fresh SQLite file (`serve` migrates it) that signs in through the
    provider; the demo's password accounts are not needed."""
    tmp = tmp_path_factory.mktemp("sso")
    with running_provider(tmp / "provider.log") as provider:
        env = ranklab_env(
            tmp / "data",
            RANKLAB_OIDC_ISSUER=provider.issuer,
            RANKLAB_OIDC_CLIENT_ID="ranklab",
            RANKLAB_OIDC_CLIENT_SECRET="browser-test-secret",
            RANKLAB_OIDC_DISPLAY_NAME="Example IdP",
            RANKLAB_OIDC_ROLE_CLAIM="groups",
            RANKLAB_OIDC_ROLE_MAP='{"ranklab-researchers": "researcher"}',
        )
        server = start_server(env, tmp / "server.log")
        try:
            yield server, provider
        finally:
            server.stop()


def test_a_person_signs_in_through_the_provider_and_lands_home_as_themselves(
    page: Page, sso_server: tuple[LiveServer, OidcProviderProcess]
) -> None:
    server, provider = sso_server
    provider.set_user(
        "researcher-7", {"preferred_username": "rita", "groups": ["ranklab-researchers"]}
    )
    # The provider's page links a stylesheet from a CDN; this box is offline.
    page.route("https://cdn.jsdelivr.net/**", lambda route: Route.abort(route))
    page.goto(server.base_url + "/login")
    page.get_by_role("link", name="Sign in with Example IdP").click()
    expect(page).to_have_url(re.compile(re.escape(provider.issuer + "/oauth2/authorize?") + ".*"))
    page.get_by_placeholder("sub").fill("researcher-7")
    page.get_by_role("button", name="Authorize").click()
    expect(page).to_have_url(server.base_url + "/research")
    expect(page.get_by_text("Welcome, rita.")).to_be_visible()
