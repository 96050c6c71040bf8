"""OIDC verification: only a token of the invoker account, for this service, from a trusted
issuer, signed by its key and not expired is accepted; a refused push never reaches task
code."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from adapters.gcp.auth import Certificates, TokenVerifier, Unauthorized
from adapters.gcp.tokens import LocalIssuer
from tests.gcp import apps
from tests.gcp.conftest import ACCOUNT, Gcp, Issuer

AUDIENCE = "https://worker-abc.a.run.app"


@pytest.fixture
def verifier(issuer: Issuer) -> TokenVerifier:
    return TokenVerifier(
        audiences={AUDIENCE},
        service_account=ACCOUNT,
        issuers={"https://accounts.google.com"},
        certificates=Certificates(issuer.certs.as_uri()),
    )


def _sign(made: Issuer, **changes: object) -> str:
    fields: dict[str, object] = {"audience": AUDIENCE, "email": ACCOUNT, **changes}
    return made.issuer.sign(**fields)  # type: ignore[arg-type]


def _refused(verifier: TokenVerifier, header: str | None) -> int:
    with pytest.raises(Unauthorized) as refused:
        verifier.verify(header)
    return refused.value.status


def test_a_good_token_passes(verifier: TokenVerifier, issuer: Issuer) -> None:
    token = _sign(issuer)
    verifier.verify(f"Bearer {token}")
    verifier.verify(f"bearer {token}")  # cached: checked once, expiry checked each time


def test_no_token_or_not_a_bearer_is_401(verifier: TokenVerifier) -> None:
    assert _refused(verifier, None) == 401
    assert _refused(verifier, "") == 401
    assert _refused(verifier, "Basic dXNlcjpwYXNz") == 401
    assert _refused(verifier, "Bearer not-a-jwt") == 401


def test_a_wrong_audience_is_403(verifier: TokenVerifier, issuer: Issuer) -> None:
    assert _refused(verifier, f"Bearer {_sign(issuer, audience='https://other.run.app')}") == 403


def test_another_account_or_an_unverified_email_is_403(
    verifier: TokenVerifier, issuer: Issuer
) -> None:
    other = _sign(issuer, email="someone@elsewhere.iam.gserviceaccount.com")
    assert _refused(verifier, f"Bearer {other}") == 403
    unverified = _sign(issuer, extra={"email_verified": False})
    assert _refused(verifier, f"Bearer {unverified}") == 403


def test_an_untrusted_issuer_is_403(verifier: TokenVerifier, issuer: Issuer) -> None:
    assert _refused(verifier, f"Bearer {_sign(issuer, issuer='https://evil.example')}") == 403


def test_a_bad_signature_is_401(verifier: TokenVerifier, issuer: Issuer) -> None:
    forger = LocalIssuer.generate(key_id=issuer.issuer.key_id)  # same key id, other key
    forged = forger.sign(audience=AUDIENCE, email=ACCOUNT)
    assert _refused(verifier, f"Bearer {forged}") == 401
    header, payload, signature = _sign(issuer).split(".")
    tampered = f"{header}.{payload[:-2]}AA.{signature}"
    assert _refused(verifier, f"Bearer {tampered}") == 401


def test_an_unknown_key_is_401(verifier: TokenVerifier) -> None:
    stranger = LocalIssuer.generate(key_id="unknown")
    assert _refused(verifier, f"Bearer {stranger.sign(audience=AUDIENCE, email=ACCOUNT)}") == 401


def test_an_expired_token_is_401(verifier: TokenVerifier, issuer: Issuer) -> None:
    old = _sign(issuer, now=time.time() - 7200, lifetime=3600)
    assert _refused(verifier, f"Bearer {old}") == 401


def test_a_cached_token_is_refused_once_it_expires(issuer: Issuer) -> None:
    clock = [time.time()]
    verifier = TokenVerifier(
        audiences={AUDIENCE},
        service_account=ACCOUNT,
        issuers={"https://accounts.google.com"},
        certificates=Certificates(issuer.certs.as_uri()),
        clock=lambda: clock[0],
    )
    token = _sign(issuer, lifetime=60)
    verifier.verify(f"Bearer {token}")
    clock[0] += 120
    with pytest.raises(Unauthorized, match="expired"):
        verifier.verify(f"Bearer {token}")


def test_rotated_keys_are_fetched_again(tmp_path: Path, issuer: Issuer) -> None:
    certs = tmp_path / "certs.json"
    certs.write_text(json.dumps(issuer.issuer.certificates()))
    verifier = TokenVerifier(
        audiences={AUDIENCE},
        service_account=ACCOUNT,
        issuers={"https://accounts.google.com"},
        certificates=Certificates(certs.as_uri(), refetch_interval=0),
    )
    verifier.verify(f"Bearer {_sign(issuer)}")
    rotated = LocalIssuer.generate(key_id="rotated")
    certs.write_text(json.dumps({**issuer.issuer.certificates(), **rotated.certificates()}))
    verifier.verify(f"Bearer {rotated.sign(audience=AUDIENCE, email=ACCOUNT)}")


@pytest.mark.emulator
@pytest.mark.parametrize(
    ("token", "status"),
    [
        (None, 401),
        ("garbage", 401),
        ("wrong-audience", 403),
        ("expired", 401),
        ("bad-signature", 401),
    ],
)
def test_refused_pushes_never_run_the_task(gcp: Gcp, token: str | None, status: int) -> None:
    made = {
        "wrong-audience": lambda: gcp.token(audience="https://other.run.app"),
        "expired": lambda: gcp.token(now=time.time() - 7200, lifetime=3600),
        "bad-signature": lambda: LocalIssuer.generate().sign(
            audience=gcp.receiver_url, email=ACCOUNT
        ),
    }
    sent = made[token]() if token in made else token
    message = apps.add.message((4, 4))
    answer, _ = gcp.push(message.body, {"X-CloudTasks-QueueName": "gcptest-default"}, token=sent)
    assert answer == status
    assert apps.CALLS == []
    assert gcp.backend.results.get(message.envelope.id) is None  # nothing at all happened
