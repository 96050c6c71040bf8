"""AWS infrastructure, decided once and written many times.

:mod:`~adapters.aws.deploy.policy` decides every AWS value from the neutral model into the
records of :mod:`~adapters.aws.deploy.records` (with :mod:`~adapters.aws.deploy.schedules` for
EventBridge expressions); one small module per format only writes them:
:mod:`~adapters.aws.deploy.cloudformation`, :mod:`~adapters.aws.deploy.sam`,
:mod:`~adapters.aws.deploy.serverless` and :mod:`~adapters.aws.deploy.terraform`. Their Jinja2
skeletons are package data in ``templates/`` (the repository's ``templates/aws``).
"""
