"""Message text and bodies: base64, the Functions host's default ``messageEncoding``.

The host decodes every message before calling a function and moves a message it cannot decode
to the poison queue at once (``QueueServiceClientProvider``'s decoding-failed handler, in
https://github.com/Azure/azure-sdk-for-net/tree/main/sdk/storage/Microsoft.Azure.WebJobs.Extensions.Storage.Queues;
host.json's ``messageEncoding``:
https://learn.microsoft.com/en-us/azure/azure-functions/functions-bindings-storage-queue#host-json).
"""

from __future__ import annotations

import base64
import binascii


class NotBase64(ValueError):
    """Message text that is not base64 (the host cannot hand it to a function)."""


def encode(body: bytes) -> str:
    """The message text of ``body``."""
    return base64.b64encode(body).decode("ascii")


def decode(text: str) -> bytes:
    """The body of message text ``text``; :class:`NotBase64` if it is not base64."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise NotBase64("the message text is not base64") from None
