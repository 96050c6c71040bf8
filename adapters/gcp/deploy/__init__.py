"""The GCP deploy policy and its format writers: :mod:`policy` decides every Google Cloud value
from the neutral model, :mod:`records` holds its decisions, :mod:`terraform` prints them for
the hashicorp/google provider, :mod:`schedules` turns schedules into Cloud Scheduler cron
lines."""
