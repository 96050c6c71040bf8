"""Text helpers shared by renderers: Jinja2 templates from ``templates/`` and YAML dumping.

Jinja2 and PyYAML come with the ``infra`` extra and are imported only when a renderer runs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

#: Where the templates live: the repository's ``templates/`` folder (an editable install keeps
#: this module in the checkout), unless ``DISPATCHER_TEMPLATES`` names another folder.
TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
HINT = "install the infra extra: pip install 'faas-dispatcher[infra]'"


def templates_dir() -> Path:
    """The templates folder; a clear error when it cannot be found."""
    folder = Path(os.environ.get("DISPATCHER_TEMPLATES", TEMPLATES_DIR))
    if not folder.is_dir():
        raise FileNotFoundError(
            f"templates folder {folder} not found; set DISPATCHER_TEMPLATES to the repository's "
            "templates/ folder"
        )
    return folder


def render_template(name: str, **context: Any) -> str:
    """Render ``templates/<name>`` with ``context`` (undefined names are errors)."""
    try:
        import jinja2
    except ImportError as error:
        raise ImportError(f"jinja2 is missing; {HINT}") from error
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    return environment.get_template(name).render(**context)


def to_yaml(data: Any) -> str:
    """Block-style YAML in the data's own key order, long lines kept whole."""
    try:
        import yaml
    except ImportError as error:
        raise ImportError(f"pyyaml is missing; {HINT}") from error

    class Dumper(yaml.SafeDumper):
        """Indents lists under their keys, as CloudFormation examples do."""

        def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
            super().increase_indent(flow, False)

    text: str = yaml.dump(
        data,
        Dumper=Dumper,
        sort_keys=False,
        default_flow_style=False,
        width=1000,
        allow_unicode=True,
    )
    return text
