"""Every DynamoDB key, condition and update expression of the service, in one place.

Each builder returns the keyword arguments for one client call. The comment on each says which race
its condition guards against. Transitions take their from-states from shared/job_states.py.

Key layout of the single table (org ids are UUIDs and queue names exclude '#', so no key is ambiguous):
  job              pk JOB#{org}#{job_id}        sk JOB
  idempotency key  pk IDEM#{org}#{key}          sk IDEM
  organization     pk ORG#{org}                 sk ORG
  queue counters   pk ORG#{org}                 sk QSTAT#{queue}
  queue config     pk ORG#{org}                 sk QUEUE#{queue}
  API key          pk APIKEY#{sha256 of key}    sk APIKEY
  worker           pk WORKER#{worker_id}        sk WORKER
  (organizations, slugs, key pointers, revoked tokens, rate windows, activity: accounts.py;
  timers, live workers, Lambda-worker slots: timers.py; each feature's own module lists its keys)

One module per concept: keys, jobs, accounts, timers, workers, and the features' modules beside
them (schedules, workflows, outgoing_webhooks, inbound_webhooks, live_connections). The core
modules' names are re-exported here, so callers write `ex.claim(...)`.
"""

from __future__ import annotations

# The core modules' public names, as one namespace (`ex.claim`, `ex.job_key` ...).
from shared.dynamo_expressions.accounts import *  # noqa: F403
from shared.dynamo_expressions.jobs import *  # noqa: F403
from shared.dynamo_expressions.keys import *  # noqa: F403
from shared.dynamo_expressions.timers import *  # noqa: F403
from shared.dynamo_expressions.workers import *  # noqa: F403
