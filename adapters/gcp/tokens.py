"""A local OIDC issuer: what stands in for Google's token service on the emulators.

The Cloud Tasks emulator ignores ``oidc_token`` and sends no ``Authorization`` header, so on
the emulators the producer signs the token itself with this issuer's key (given by
``DISPATCHER_GCP_SIGNING_KEY``), and the receiver verifies it exactly as it verifies Google's,
against this issuer's certificates (``DISPATCHER_GCP_CERTS_URL``, a ``file://`` URL). Tests
sign their own tokens with it too (wrong audience, bad signature, expired...).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: How long a token is valid, as Google's ID tokens: one hour.
LIFETIME = 3600
#: A cached token is replaced when it has less than this left.
RENEW_BEFORE = 300
#: The ``iss`` of the tokens the local issuer signs.
LOCAL_ISSUER = "https://accounts.google.com"


class LocalIssuer:
    """An RSA key that signs ID tokens and publishes its certificate as ``{kid: PEM}``."""

    def __init__(self, private_key_pem: bytes, key_id: str = "local") -> None:
        from google.auth import crypt

        self.private_key_pem = private_key_pem
        self.key_id = key_id
        self.signer = crypt.RSASigner.from_string(private_key_pem, key_id=key_id)
        self._cache: dict[tuple[str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()

    @classmethod
    def generate(cls, key_id: str = "local") -> LocalIssuer:
        """A fresh 2048-bit key."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return cls(pem, key_id)

    @classmethod
    def from_file(cls, path: str | Path) -> LocalIssuer:
        """The issuer whose private key is the PEM file ``path``."""
        return cls(Path(path).read_bytes())

    def public_key_pem(self) -> str:
        """The public key, PEM (what google-auth verifies signatures with)."""
        from cryptography.hazmat.primitives import serialization

        key = serialization.load_pem_private_key(self.private_key_pem, password=None)
        return (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def certificates(self) -> dict[str, str]:
        """``{key id: PEM}``, the document Google publishes at its certs URL."""
        return {self.key_id: self.public_key_pem()}

    def write(self, folder: Path) -> tuple[Path, Path]:
        """Write the private key and the certificates into ``folder``; their paths."""
        key, certs = folder / "signing-key.pem", folder / "certs.json"
        key.write_bytes(self.private_key_pem)
        key.chmod(0o600)
        certs.write_text(json.dumps(self.certificates()))
        return key, certs

    def sign(
        self,
        *,
        audience: str,
        email: str,
        issuer: str = LOCAL_ISSUER,
        lifetime: float = LIFETIME,
        now: float | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        """An ID token as Cloud Tasks would send it."""
        from google.auth import jwt

        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = {
            "iss": issuer,
            "aud": audience,
            "sub": email,
            "email": email,
            "email_verified": True,
            "iat": issued,
            "exp": issued + int(lifetime),
            **(extra or {}),
        }
        token: bytes = jwt.encode(self.signer, claims)
        return token.decode()

    def token_for(self, audience: str, email: str) -> str:
        """A token for ``audience`` as ``email``, reused until close to its expiry (as the
        token service does: signing costs about a millisecond)."""
        now = time.time()
        cached = self._cache.get((audience, email))
        if cached is not None and cached[1] - now > RENEW_BEFORE:
            return cached[0]
        with self._lock:
            token = self.sign(audience=audience, email=email, now=now)
            self._cache[(audience, email)] = (token, now + LIFETIME)
        return token
