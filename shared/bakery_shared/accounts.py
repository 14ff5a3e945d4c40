"""WhatsApp Business Accounts as data (issue 18): where each account's token comes from, never the token itself.

An account's token is named by a *token reference*, the only thing stored or shown:

* ``settings`` — the account configured by the environment (``WHATSAPP_ACCESS_TOKEN`` or
  ``WHATSAPP_ACCESS_TOKEN_FILE``): the first account of every installation, so a single-account set-up changes
  nothing;
* ``file:/absolute/path`` — a file holding the token, re-read when it changes (rotation without a restart);
* ``env:NAME`` — an environment variable of the service's process (a secret manager's injected variable).

:class:`AccountTokens` turns a reference into the :class:`~bakery_shared.graph.AccessTokenProvider` that reads it,
one per reference and process; :meth:`bakery_shared.graph.GraphClient.with_tokens` speaks with it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from bakery_shared.graph import AccessTokenProvider

SETTINGS_TOKEN_REF = "settings"
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")
MAX_TOKEN_REF_LENGTH = 512


class TokenRefError(ValueError):
    """A token reference that names no place a token can come from; the message says what to write."""


@dataclass(frozen=True)
class TokenRef:
    kind: str  # "settings" | "file" | "env"
    value: str  # the path or the variable name ("" for settings)

    def __str__(self) -> str:
        return SETTINGS_TOKEN_REF if self.kind == "settings" else f"{self.kind}:{self.value}"


def parse_token_ref(text: str) -> TokenRef:
    """``settings``, ``file:/absolute/path`` or ``env:NAME``; anything else raises :class:`TokenRefError`."""
    ref = (text or "").strip()
    if ref == SETTINGS_TOKEN_REF:
        return TokenRef("settings", "")
    if len(ref) > MAX_TOKEN_REF_LENGTH:
        raise TokenRefError(f"token_ref is longer than {MAX_TOKEN_REF_LENGTH} characters")
    kind, _, value = ref.partition(":")
    if kind == "file":
        if not value.startswith("/") or "\x00" in value or "/../" in f"{value}/":
            raise TokenRefError("token_ref 'file:' needs an absolute path without '..', e.g. file:/run/secrets/waba")
        return TokenRef("file", value)
    if kind == "env":
        if not _ENV_NAME.match(value):
            raise TokenRefError("token_ref 'env:' needs an upper-case variable name, e.g. env:WABA_TOKEN_EU")
        return TokenRef("env", value)
    raise TokenRefError(
        "token_ref must be 'file:/absolute/path' (a file holding the token) or 'env:NAME' (an environment "
        "variable) — never the token itself"
    )


def token_ref_problem(ref: TokenRef) -> str | None:
    """Why no token can be read from ``ref`` on this machine right now (``None`` when one can)."""
    if ref.kind == "file":
        path = Path(ref.value)
        if not path.is_file():
            return f"no file at {ref.value}"
        try:
            if not path.read_text(encoding="utf-8").strip():
                return f"the file {ref.value} is empty"
        except OSError as exc:
            return f"the file {ref.value} cannot be read ({exc.strerror})"
    if ref.kind == "env" and not os.environ.get(ref.value, "").strip():
        return f"the environment variable {ref.value} is not set"
    return None


class AccountTokens:
    """One :class:`AccessTokenProvider` per token reference, the environment's account being ``settings``."""

    def __init__(self, settings_tokens: AccessTokenProvider):
        self._providers: dict[str, AccessTokenProvider] = {SETTINGS_TOKEN_REF: settings_tokens}

    def provider(self, token_ref: str) -> AccessTokenProvider:
        """The provider for ``token_ref`` (an empty reference is the environment's account)."""
        key = str(parse_token_ref(token_ref or SETTINGS_TOKEN_REF))
        found = self._providers.get(key)
        if found is None:
            ref = parse_token_ref(key)
            if ref.kind == "file":
                found = AccessTokenProvider(token_file=Path(ref.value))
            else:
                found = AccessTokenProvider(os.environ.get(ref.value, "").strip())
            self._providers[key] = found
        return found
