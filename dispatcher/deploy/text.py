"""Text helpers shared by renderers: Jinja2 templates shipped as package data, and YAML.

A provider keeps its templates in a ``templates/`` folder of one of its packages (the AWS
writers' is ``adapters/aws/deploy/templates``, a link to the repository's ``templates/aws``)
and names that package; the text is read with :mod:`importlib.resources`, so it works the same
from a checkout, an editable install or an installed wheel. Jinja2 and PyYAML come with the
``infra`` extra and are imported only when a renderer runs.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

HINT = "install the infra extra: pip install 'faas-dispatcher[infra]'"


def template_text(package: str, name: str) -> str:
    """The text of ``templates/<name>`` in ``package``'s data."""
    source = resources.files(package).joinpath("templates", *name.split("/"))
    try:
        return source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(
            f"template {name!r} is missing from the package data of {package}; reinstall "
            "faas-dispatcher"
        ) from None


def render_template(package: str, name: str, **context: Any) -> str:
    """Render ``package``'s ``templates/<name>`` with ``context`` (undefined names are errors)."""
    try:
        import jinja2
    except ImportError as error:
        raise ImportError(f"jinja2 is missing; {HINT}") from error
    environment = jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda template: template_text(package, template)),
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
