"""Identifier forms of model names: ``order-events`` as ``OrderEvents`` (CloudFormation logical
ids, IAM statement ids) and ``order_events`` (Terraform names)."""

from __future__ import annotations

import re


def camel(name: str) -> str:
    """``order-events`` -> ``OrderEvents``."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name) if part)


def snake(name: str) -> str:
    """``order-events`` -> ``order_events``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
