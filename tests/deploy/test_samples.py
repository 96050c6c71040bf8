"""The committed outputs for the samples are exactly what the generators produce today."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatcher.deploy.output import generate
from tests.deploy.tools import PROVIDER_OUTPUTS, SAMPLE, SAMPLE_OUTPUTS

OUTPUTS: dict[tuple[str, str], Path] = {
    **{("aws", format): path for format, path in SAMPLE_OUTPUTS.items()},
    **PROVIDER_OUTPUTS,
}


@pytest.mark.parametrize(("provider", "format"), sorted(OUTPUTS))
def test_committed_output_is_up_to_date(provider: str, format: str) -> None:
    for name, text in generate(SAMPLE, format, provider).items():
        path = OUTPUTS[provider, format] / name
        command = f"dispatcher infra {SAMPLE} --provider {provider} --format {format}"
        assert path.exists(), f"{path} is missing; run `{command} --out {path.parent}`"
        assert path.read_text() == text, (
            f"{path} differs from the generator's output; regenerate it with "
            f"`{command} --out {path.parent}`"
        )
