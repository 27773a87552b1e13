"""Every DynamoDB key, condition and update expression of the job domain, in one place.

Each builder returns the keyword arguments for one client call; the comment on each says which race
its condition guards against. Transitions take their from-states from shared/jobs/states.py.

Key layout of the job domain's items (org ids are UUIDs and queue names exclude '#', so no key is
ambiguous):
  job              pk JOB#{org}#{shard}         sk {job_id}  (the shard is in the id: keys.job_key)
  job payload      pk JOBP#{org}#{job_id}#{n}   sk P      (a payload too large for the job item)
  idempotency key  pk IDEM#{org}#{key}          sk IDEM
  queue counters   pk QSTAT#{org}#{queue}       sk QSTAT  (one partition per queue, with its
                                                          activity buckets: keys.py)
  queue registry   pk ORG#{org}                 sk QREG#{queue}
  queue config     pk ORG#{org}                 sk QUEUE#{queue}
  worker           pk WORKER#{org}#{worker_id}  sk WORKER
  (timers, live workers, Lambda-worker slots: timers.py; activity buckets, registry: queues.py)

One module per concept (keys, lifecycle, reads, timers, dependencies, queues, workers), re-exported here
as one namespace, so callers write `ex.claim(...)`. Keys every domain shares (the organization
item, listing and timers sort keys) are in shared/plumbing/table_keys.py.
"""

from __future__ import annotations

from shared.jobs.expressions.dependencies import *  # noqa: F403
from shared.jobs.expressions.keys import *  # noqa: F403
from shared.jobs.expressions.lifecycle import *  # noqa: F403
from shared.jobs.expressions.queues import *  # noqa: F403
from shared.jobs.expressions.reads import *  # noqa: F403
from shared.jobs.expressions.timers import *  # noqa: F403
from shared.jobs.expressions.workers import *  # noqa: F403
