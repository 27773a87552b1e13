"""The one lock that makes each call to moto atomic, as each DynamoDB conditional write is on AWS.

moto's backends are not thread-safe: two threads can both pass the same condition check. The local
stack runs handlers in threads the way Lambda runs them in parallel containers, so every way into
moto in a process (the embedded server, embedded_moto.py; the in-process hook, inprocess_moto.py)
holds this lock while moto handles a request, response body included; the race tests prove it.
"""

from __future__ import annotations

import threading

# Re-entrant: a moto backend that called another through boto3 would otherwise deadlock itself.
ATOMIC = threading.RLock()
