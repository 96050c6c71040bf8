"""Azure infrastructure, decided once and written many times.

:mod:`~adapters.azure.deploy.policy` decides every Azure value from the neutral model into the
records of :mod:`~adapters.azure.deploy.records` (with :mod:`~adapters.azure.deploy.schedules`
for NCRONTAB lines); :mod:`~adapters.azure.deploy.terraform` only writes the resources, and
:mod:`adapters.azure.project` the two files of the Functions project (``function_app.py`` and
``host.json``) from the same plan. The Terraform skeleton is package data in
``adapters/azure/templates`` (the repository's ``templates/azure``).
"""
