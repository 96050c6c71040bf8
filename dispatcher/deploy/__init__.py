"""Infrastructure from declarations: one neutral resource model built from an app's tasks
(:mod:`~dispatcher.deploy.graph`), checked on the way, and renderers per format and provider
(:mod:`~dispatcher.deploy.render`). ``dispatcher infra`` and ``dispatcher package`` live in
:mod:`~dispatcher.deploy.cli`."""
