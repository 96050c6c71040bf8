"""A provider that exists only in the tests, installed the way a separate distribution is (a
``.dist-info`` folder declaring the entry point): it adds a backend scheme (``toy:PATH``,
appending each message's body to a file), an ``emulate toy`` command, and a ``toyfile``
infrastructure format with its deploy policy. The core knows nothing of it."""

from dispatcher.plugins import Plugin

PLUGIN = Plugin(
    name="toy",
    description="a provider from a separately installed distribution",
    schemes=("toy",),
    backend="toy_provider.backend:from_spec",
    commands=("toy_provider.commands:register",),
    formats={"toyfile": "toy_provider.render:ToyRenderer"},
    policy="toy_provider.render:POLICY",
)
