"""`make dev`: the whole product on 127.0.0.1:$PORT against an embedded moto.

Start-up: moto → the resources of shared/plumbing/schema.py → a seeded organization and API key → the
HTTP gateway in front of the real API handler → the background loops the AWS event sources would
drive (stream → dispatcher, the timer sweep). Ctrl-C or SIGTERM stops everything cleanly.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
import threading

from local_stack.runtime import LocalStack


def main() -> int:
    port = int(os.environ.get("PORT", "8080"))
    stack = LocalStack(
        port=port,
        api_key=os.environ.get("SPOOLED_DEV_API_KEY") or None,
        admin_key=os.environ.get("SPOOLED_ADMIN_KEY") or None,
    )
    stopping = threading.Event()

    def stop(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    stack.start()
    _tune_garbage_collection()
    # A key the caller chose (SPOOLED_DEV_API_KEY) is not printed: the caller knows it, and the
    # output may be kept (the e2e tests check that no key or token reaches it).
    given = bool(os.environ.get("SPOOLED_DEV_API_KEY"))
    shown_key = "<SPOOLED_DEV_API_KEY>" if given else stack.api_key
    print(f"Spooled local stack on {stack.base_url}", flush=True)
    print(f"  API key:   {'(from SPOOLED_DEV_API_KEY)' if given else stack.api_key}", flush=True)
    # The key rides in the fragment, which the browser never sends to the server.
    print(f"  dashboard: {stack.base_url}/dashboard#key={shown_key}", flush=True)
    print(
        f"  admin key: {'(from SPOOLED_ADMIN_KEY)' if stack.admin_key else 'none (set SPOOLED_ADMIN_KEY)'}",
        flush=True,
    )
    print(
        f"  try:       curl -H 'Authorization: Bearer {shown_key}' {stack.base_url}/api/v1/jobs",
        flush=True,
    )
    stopping.wait()
    print("stopping...", flush=True)
    stack.stop()
    print("stopped", flush=True)
    return 0


# Young collections every 700 allocations as by default, but the older generations examined 5x
# less often (50, 50 instead of 10, 10).
GC_THRESHOLDS = (700, 50, 50)


def _tune_garbage_collection() -> None:
    """This process keeps a growing heap for its whole life (moto's tables, stream records and
    parse trees, botocore's models), and the default collector walked it again and again: ~2 ms of
    CPU per job under the 16-worker bench, a full collection of the heap ~0.2 s. What start-up
    built (modules, models, the backends) lives as long as the process: frozen, no collection
    examines it again; and the older generations, where long-lived objects pile up, are collected
    less often. Reference counting still frees what has no cycle at once; cycles wait a little
    longer."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


if __name__ == "__main__":
    code = main()
    # Everything has stopped and the embedded moto's state dies with the process: skip the
    # interpreter's teardown of that heap, which takes seconds once it holds a busy session's data.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
