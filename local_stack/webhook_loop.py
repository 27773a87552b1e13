"""The webhook delivery queue in `make dev`: what the webhooks function's SQS event source mapping
does on AWS. Messages go, up to ten at a time, to functions/webhooks/handler.py through the same
receive → handler → delete-what-did-not-fail cycle as the dispatch queue (local_stack/dispatch_loop.py).
"""

from __future__ import annotations

import threading

from local_stack.dispatch_loop import QueuePoller
from local_stack.wakeups import Wakeups


class WebhookLoop:
    def __init__(self, stop: threading.Event, interval: float = 0.1, wakeups: Wakeups | None = None) -> None:
        self.stop = stop
        self.wakeups = wakeups
        self.interval = interval  # an idle poll is a moto call under the embedded moto's lock

    def run(self) -> None:
        from functions.webhooks.handler import handler
        from shared.plumbing.config import settings

        QueuePoller(settings().webhook_queue_url, handler).run_until(
            self.stop, self.interval, "webhook delivery queue", self.wakeups
        )
