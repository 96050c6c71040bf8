"""Run by the cfn tool venv's Python: transform a SAM template, print the CloudFormation JSON.

Kept apart from the test suite because aws-sam-translator pins pydantic to one minor release.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import yaml
from samtranslator.public.exceptions import (  # type: ignore[import-not-found]
    InvalidDocumentException,
)
from samtranslator.translator.transform import transform  # type: ignore[import-not-found]


class NoManagedPolicies:
    """The generated templates use no managed policies, so nothing needs to be looked up."""

    def load(self) -> dict[str, Any]:
        return {}


def main(path: str) -> int:
    with open(path, encoding="utf-8") as stream:
        template = yaml.safe_load(stream)
    parameters = {"CodeBucket": "code-bucket", "CodeKey": "app.zip"}
    try:
        result = transform(template, parameters, NoManagedPolicies())
    except InvalidDocumentException as error:
        for cause in error.causes:
            print(cause.message, file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
