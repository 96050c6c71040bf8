"""The committed outputs for the samples are exactly what the generators produce today."""

from __future__ import annotations

import pytest

from dispatcher.deploy.output import generate
from tests.deploy.tools import SAMPLE, SAMPLE_OUTPUTS


@pytest.mark.parametrize("format", sorted(SAMPLE_OUTPUTS))
def test_committed_output_is_up_to_date(format: str) -> None:
    for name, text in generate(SAMPLE, format).items():
        path = SAMPLE_OUTPUTS[format] / name
        assert path.exists(), f"{path} is missing; run `dispatcher infra {SAMPLE} -f {format}`"
        assert path.read_text() == text, (
            f"{path} differs from the generator's output; regenerate it with "
            f"`dispatcher infra {SAMPLE} --format {format} --out {path.parent}`"
        )
