"""Verify the OIDC token of each push before anything else happens.

Cloud Tasks signs an ID token for the task's ``oidc_token.service_account_email`` with the
``audience`` it names, and sends it as ``Authorization: Bearer ...``
(https://cloud.google.com/tasks/docs/creating-http-target-tasks#token). The receiver
accepts a push only if the token

* is a well-formed RS256 JWT signed by one of the issuer's keys (401 otherwise),
* is not expired and was not issued in the future, with ``LEEWAY`` seconds of clock skew
  (401),
* comes from a trusted issuer: Google's ``https://accounts.google.com`` by default (403),
* is for this service (its ``aud`` is one of the expected audiences) (403),
* names the invoker service account, with ``email_verified`` (403): any Google service
  account can mint an ID token for any audience, so the audience alone proves nothing.

Signatures are checked by google-auth (``google.auth.jwt.decode``) against the issuer's
certificates, fetched from ``certs_url`` and cached for as long as its ``Cache-Control``
allows; an unknown key id triggers one refetch (keys rotate). A verified token is cached
until it expires (Cloud Tasks reuses a token across pushes), so the signature is checked once
per token, not once per push; expiry is checked on every push.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from collections.abc import Callable, Collection, Mapping
from typing import Any

#: Seconds of clock skew allowed for ``iat`` and ``exp``.
LEEWAY = 10
#: How many verified tokens are remembered.
CACHE_SIZE = 256
#: Keys are fetched again at most this often when a token names an unknown key id.
REFETCH_INTERVAL = 30.0
_MAX_AGE = re.compile(r"max-age=(\d+)")


class Unauthorized(Exception):
    """The push is not from whom it must be; ``status`` is 401 or 403."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class Certificates:
    """The issuer's signing keys, ``{key id: PEM}``, from ``url`` (``https://`` or
    ``file://``), cached per ``Cache-Control: max-age``."""

    def __init__(
        self,
        url: str,
        *,
        refetch_interval: float = REFETCH_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url, self.clock, self.refetch_interval = url, clock, refetch_interval
        self._keys: dict[str, str] = {}
        self._fresh_until = 0.0
        self._fetched_at = -refetch_interval
        self._lock = threading.Lock()

    def keys(self, key_id: str | None) -> Mapping[str, str]:
        """The keys, fetched again if stale or if ``key_id`` is not among them."""
        now = self.clock()
        stale = now >= self._fresh_until
        unknown = key_id is not None and key_id not in self._keys
        if stale or (unknown and now - self._fetched_at >= self.refetch_interval):
            with self._lock:
                self._fetch(now)
        return self._keys

    def _fetch(self, now: float) -> None:
        try:
            with urllib.request.urlopen(self.url, timeout=10) as response:
                keys = json.loads(response.read())
                control = response.headers.get("Cache-Control", "") if response.headers else ""
        except (OSError, ValueError) as error:
            if self._keys:  # keep the old keys for a while rather than refuse every push
                self._fresh_until = now + self.refetch_interval
                return
            raise Unauthorized(401, f"cannot fetch the token signing keys: {error}") from None
        if not isinstance(keys, dict) or not all(isinstance(v, str) for v in keys.values()):
            raise Unauthorized(401, f"{self.url} is not a map of key ids to PEM keys")
        match = _MAX_AGE.search(control or "")
        self._keys = keys
        self._fetched_at = now
        self._fresh_until = now + (int(match.group(1)) if match else 3600)


class TokenVerifier:
    """Checks ``Authorization`` headers (see the module)."""

    def __init__(
        self,
        *,
        audiences: Collection[str],
        service_account: str,
        issuers: Collection[str],
        certificates: Certificates,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not audiences or not service_account:
            raise ValueError("a token verifier needs the audiences and the service account")
        self.audiences = frozenset(audiences)
        self.service_account = service_account
        self.issuers = frozenset(issuers)
        self.certificates = certificates
        self.clock = clock
        self._verified: dict[str, float] = {}  # token -> exp
        self._lock = threading.Lock()

    def verify(self, authorization: str | None) -> None:
        """Return if ``authorization`` is ``Bearer <a good token>``; raise
        :class:`Unauthorized` otherwise."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized(401, "no bearer token")
        now = self.clock()
        expires = self._verified.get(token)
        if expires is not None:
            if now <= expires + LEEWAY:
                return
            raise Unauthorized(401, "token expired")
        claims = self._decode(token)
        self._check(claims)
        with self._lock:
            if len(self._verified) >= CACHE_SIZE:
                self._verified.clear()
            self._verified[token] = float(claims["exp"])

    def _decode(self, token: str) -> Mapping[str, Any]:
        from google.auth import exceptions, jwt

        try:
            header = jwt.decode_header(token)
        except (ValueError, exceptions.GoogleAuthError):
            raise Unauthorized(401, "malformed token") from None
        if header.get("alg") != "RS256":
            raise Unauthorized(401, f"unexpected token algorithm {header.get('alg')!r}")
        key_id = header.get("kid")
        keys = self.certificates.keys(key_id if isinstance(key_id, str) else None)
        if isinstance(key_id, str) and key_id not in keys:
            raise Unauthorized(401, f"token signed with an unknown key {key_id!r}")
        try:
            claims: Mapping[str, Any] = jwt.decode(
                token, certs=dict(keys), clock_skew_in_seconds=LEEWAY
            )
        except (ValueError, exceptions.GoogleAuthError) as error:
            text = str(error)
            if "expired" in text.lower() or "too early" in text.lower():
                raise Unauthorized(401, f"token not valid now: {text}") from None
            raise Unauthorized(401, f"token refused: {text}") from None
        if not isinstance(claims.get("exp"), int | float):
            raise Unauthorized(401, "token has no expiry")
        return claims

    def _check(self, claims: Mapping[str, Any]) -> None:
        if claims.get("iss") not in self.issuers:
            raise Unauthorized(403, f"token from an untrusted issuer {claims.get('iss')!r}")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if not self.audiences.intersection(a for a in audiences if isinstance(a, str)):
            raise Unauthorized(403, f"token for another audience {audience!r}")
        if claims.get("email") != self.service_account or claims.get("email_verified") is not True:
            raise Unauthorized(403, f"token of another account {claims.get('email')!r}")
