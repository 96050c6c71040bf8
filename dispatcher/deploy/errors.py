"""Errors of the infrastructure generators."""

from __future__ import annotations

from dispatcher.errors import DispatcherError


class UndeployableApp(DispatcherError, ValueError):
    """The app's declarations cannot be deployed; one line per problem, each naming a task (or
    queue) and the setting at fault."""

    def __init__(self, app: str, problems: list[str]) -> None:
        self.app, self.problems = app, problems
        super().__init__("\n".join(problems))


class UnsupportedResource(DispatcherError, TypeError):
    """A renderer met a resource type it has no translation for."""


class UnknownFormat(DispatcherError, LookupError):
    """No renderer is registered for a (format, provider) pair."""
