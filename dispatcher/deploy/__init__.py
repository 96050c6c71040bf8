"""Infrastructure from declarations, decided once and written many times.

:mod:`~dispatcher.deploy.graph` builds one neutral model of an app's intent
(:mod:`~dispatcher.deploy.model`); a provider's deploy policy
(:mod:`~dispatcher.deploy.policy`, found through its plug-in) decides every provider value from
it; the provider's renderers (:mod:`~dispatcher.deploy.render`) print those decisions, one per
format. :mod:`~dispatcher.deploy.package` builds a function's zip from the provider's packager.
``dispatcher infra`` and ``dispatcher package`` live in :mod:`~dispatcher.deploy.cli`."""
