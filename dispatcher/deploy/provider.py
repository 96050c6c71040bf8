"""What the builder needs to know about a provider: its limits and how its functions start."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

DAY = 86_400


class Limits(BaseModel):
    """A provider's hard limits and defaults, which the builder checks declarations against."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_memory_mb: int
    max_memory_mb: int
    max_timeout_seconds: int
    visibility_timeout_factor: int
    max_visibility_timeout_seconds: int
    default_retention_seconds: int
    max_retention_seconds: int
    dead_letter_retention_seconds: int
    max_batch_size: int
    max_ordered_batch_size: int
    ordered_batching_window: bool
    max_unwindowed_batch_size: int
    max_batching_window_seconds: int
    min_trigger_concurrency: int
    max_trigger_concurrency: int
    cron_day_fields_exclusive: bool


class Provider(BaseModel):
    """A cloud as the builder sees it: name, limits, and the function runtime settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    function_kind: str  # how its functions are called in messages: "AWS Lambda function"
    limits: Limits
    entrypoint: str
    runtime: str
    backend_spec: str
