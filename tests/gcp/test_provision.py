"""``provision`` creates on the emulators what the GCP deploy policy decided: each queue's rate
limits and retry schedule, and the bucket's lifecycle rules."""

from __future__ import annotations

import pytest

from adapters.gcp.deploy.records import Bucket, TasksQueue
from adapters.gcp.provision import decided
from tests.gcp.conftest import Gcp

pytestmark = pytest.mark.emulator


def test_queues_are_created_as_decided(deployed: Gcp) -> None:
    plan = decided(deployed.backend)
    for record in plan.of_type(TasksQueue):
        path = deployed.backend.config.queue_path(record.name)
        assert deployed.made.queues[record.name] == path
        queue = deployed.backend.clients.tasks.get_queue(name=path)
        assert queue.rate_limits.max_dispatches_per_second == record.max_dispatches_per_second
        assert queue.rate_limits.max_concurrent_dispatches == record.max_concurrent_dispatches
        retry = queue.retry_config
        assert retry.max_attempts == record.retry.max_attempts
        assert retry.min_backoff.total_seconds() == record.retry.min_backoff
        assert retry.max_backoff.total_seconds() == record.retry.max_backoff
        assert retry.max_doublings == record.retry.max_doublings


def test_the_bucket_gets_its_lifecycle_rules(deployed: Gcp) -> None:
    [record] = decided(deployed.backend).of_type(Bucket)
    bucket = deployed.backend.clients.storage.bucket(deployed.backend.config.bucket)
    rules = [
        (rule["condition"]["matchesPrefix"], rule["condition"]["age"])
        for rule in bucket["lifecycle"]["rule"]
    ]
    assert rules == [([r.prefix], r.age_days) for r in record.rules]
