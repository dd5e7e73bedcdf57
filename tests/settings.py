"""Settings of the test suite: a local run (the public development keys are allowed) whose connectors may call
the fake CRM servers the tests start on 127.0.0.1, through the same allow-list a deployment would use.

Set in os.environ (not only here) so processes the tests start (a Celery worker, manage.py) behave the same.
"""

import os

os.environ["SALESAI_ENV"] = "local"  # a test run is always local, whatever a developer's .env says
# ".test" is reserved (RFC 6761) and never resolves: tests use it with in-memory transports.
os.environ.setdefault("CRM_ALLOWED_HOSTS", "127.0.0.1,localhost,.test")
os.environ.setdefault("CRM_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")
os.environ.setdefault("EMAIL_LLM_ALLOWED_HOSTS", "127.0.0.1,localhost")  # the fake OpenAI-compatible server

from salesai.settings import *
