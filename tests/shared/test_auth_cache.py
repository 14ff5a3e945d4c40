"""bakery_shared.auth keeps tokens it verified (the HMAC and claim checks once per token, not per request), without
letting the cache accept what a fresh verification would refuse."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from bakery_shared import auth
from bakery_shared.auth import Role, decode_token, issue_token
from bakery_shared.errors import Unauthorized
from bakery_shared.settings import BaseServiceSettings

SECRET = "a-test-secret-of-enough-length-for-hs256-0123456789"


def _settings(secret: str = SECRET) -> BaseServiceSettings:
    return BaseServiceSettings(_env_file=None, jwt_secret=secret)


def test_a_verified_token_is_answered_from_the_cache_with_the_same_principal() -> None:
    settings = _settings()
    token = issue_token(settings, role=Role.SERVICE, sub="orders-service")
    first = decode_token(settings, token)
    assert any(key[0] == token for key in auth._VERIFIED)
    assert decode_token(settings, token) is first
    assert first.sub == "orders-service" and first.role is Role.SERVICE


def test_a_cached_token_is_refused_once_it_expires() -> None:
    settings = _settings()
    token = issue_token(settings, role=Role.SERVICE, ttl=timedelta(seconds=2))
    decode_token(settings, token)
    time.sleep(2.1)  # past exp: not a timing assertion, the token's own expiry
    with pytest.raises(Unauthorized) as refused:
        decode_token(settings, token)
    assert refused.value.code == "token_expired"


def test_a_token_cached_under_one_key_is_not_accepted_under_another() -> None:
    token = issue_token(_settings(), role=Role.ADMIN)
    decode_token(_settings(), token)
    with pytest.raises(Unauthorized) as refused:
        decode_token(_settings("another-secret-of-enough-length-for-hs256-987654"), token)
    assert refused.value.code == "invalid_token"


def test_refused_tokens_are_not_cached_and_the_cache_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings()
    with pytest.raises(Unauthorized):
        decode_token(settings, "not-a-token")
    assert not any(key[0] == "not-a-token" for key in auth._VERIFIED)
    monkeypatch.setattr(auth, "_VERIFIED", {})
    monkeypatch.setattr(auth, "_VERIFIED_MAX", 5)
    for i in range(20):
        decode_token(settings, issue_token(settings, role=Role.SERVICE, sub=f"caller-{i}"))
    assert len(auth._VERIFIED) <= 5
