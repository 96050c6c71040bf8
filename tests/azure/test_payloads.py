"""Claim-check pointers: only into the app's own container."""

from __future__ import annotations

import pytest

from adapters.azure.payloads import MissingClaimCheck, Pointer, is_pointer


def test_a_pointer_round_trips() -> None:
    pointer = Pointer("shop-claim-checks", "payments/id/1.json")
    body = pointer.body()
    assert is_pointer(body) and body == b'{"claim_check":"shop-claim-checks/payments/id/1.json"}'
    assert Pointer.parse(body, "shop-claim-checks") == pointer


@pytest.mark.parametrize(
    "body",
    [
        b'{"claim_check":"other-container/payments/id.json"}',
        b'{"claim_check":"shop-claim-checks/"}',
        b'{"claim_check":"shop-claim-checks"}',
        b'{"claim_check":42}',
        b'{"claim_check":',
        b"[]",
    ],
)
def test_pointers_outside_the_apps_container_are_refused(body: bytes) -> None:
    with pytest.raises(MissingClaimCheck):
        Pointer.parse(body, "shop-claim-checks")
