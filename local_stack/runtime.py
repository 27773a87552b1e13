"""The local stack as an object: tests start it in-process or as `python -m local_stack`."""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from local_stack.inprocess_moto import InProcessMoto
from local_stack.wakeups import SAFETY_SECONDS, Wakeups

logger = logging.getLogger("spooled.local")

SWEEP_SHARE_INVERSE = 10  # the sweep waits this many times its own last duration before the next

# Offline credentials for the embedded moto; nothing here ever reaches AWS.
_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
}


class LocalStack:
    def __init__(
        self,
        port: int = 8080,
        api_key: str | None = None,
        admin_key: str | None = None,
        host: str = "127.0.0.1",
        stream_window: float = 0.01,
        sweep_interval: float | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.api_key = api_key
        self.admin_key = admin_key
        # After a write wakes the stream reader, it lets the rest of a burst land first, as the
        # event source mapping's batching does: one read for many records.
        self.stream_window = stream_window
        # 1 s by default while anything is written; SPOOLED_SWEEP_INTERVAL_SECS=60 runs it as
        # rarely as on AWS, so that only the SQS timer messages keep time (bench/delay_latency.py
        # measures them that way). With no write since the last sweep, it runs once a minute.
        self.sweep_interval = (
            sweep_interval
            if sweep_interval is not None
            else float(os.environ.get("SPOOLED_SWEEP_INTERVAL_SECS") or "1")
        )
        self.idle_sweep_interval = max(60.0, self.sweep_interval)
        self._wakeups = Wakeups()
        self._moto = InProcessMoto(self._wakeups, direct_calls=True)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._server: Any = None
        self._websockets: Any = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        for name, value in _AWS_ENV.items():
            os.environ.setdefault(name, value)
        # The clients must reach the in-process moto, not an endpoint left in the environment.
        os.environ.pop("AWS_ENDPOINT_URL", None)
        self._moto.start()
        if self.admin_key:
            os.environ["SPOOLED_ADMIN_KEY"] = self.admin_key
        # JWTs are signed with a secret of this run unless one is given: tokens then last as long as
        # the stack does, and no signing secret is ever written into the code or the repository.
        os.environ.setdefault("SPOOLED_JWT_SECRET", secrets.token_urlsafe(32))

        import boto3

        from local_stack import resources
        from shared.plumbing import aws_clients, config, schema

        os.environ.update(resources.create_all(boto3.session.Session()))
        aws_clients.reset()
        config.settings.cache_clear()

        from shared.identity.credentials import mint_key
        from shared.identity.organizations import create_organization

        self.api_key = self.api_key or mint_key("development")
        created = create_organization("Development", "dev", api_key=self.api_key)
        self._allow_example_functions(created.organization["id"])

        from functions.api.handler import handler as api_handler
        from functions.live_updates.handler import handler as live_handler
        from local_stack.gateway import make_server
        from local_stack.websocket_gateway import MANAGEMENT_PATH, LocalWebSockets

        self._websockets = LocalWebSockets(live_handler)
        self._server = make_server(self.host, self.port, api_handler, self._websockets)
        self.port = self._server.server_address[1]
        # The live fan-out reaches clients through the management API this same gateway answers.
        os.environ[schema.WS_CALLBACK_URL_ENV] = f"http://127.0.0.1:{self.port}{MANAGEMENT_PATH}"
        config.settings.cache_clear()
        self._spawn("gateway", self._server.serve_forever)
        self._spawn("stream", self._stream_loop)
        self._spawn("sweep", self._sweep_loop)
        from local_stack.dispatch_loop import DispatchLoops

        loops = DispatchLoops(self._stop, wakeups=self._wakeups)
        self._spawn("dispatch", loops.run_timers)
        self._spawn("lambda-workers", loops.run_invocations)
        from local_stack.scheduler_loop import SchedulerLoops

        schedules = SchedulerLoops(self._stop, wakeups=self._wakeups)
        self._spawn("eventbridge-scheduler", schedules.run_eventbridge)
        self._spawn("schedule-fires", schedules.run_fires)
        from local_stack.webhook_loop import WebhookLoop

        self._spawn("webhook-deliveries", WebhookLoop(self._stop, wakeups=self._wakeups).run)

    @staticmethod
    def _allow_example_functions(org_id: str) -> None:
        """The development organization may push jobs to the functions `make dev` registers
        (docs/timers.md: on AWS an operator allows each organization's functions)."""
        from local_stack.lambda_workers import registered_names
        from shared.identity import lambda_functions
        from shared.plumbing.config import settings

        lambda_functions.allow(settings().table_name, org_id, registered_names())

    def _spawn(self, name: str, target: Any) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _stream_loop(self) -> None:
        from functions.dispatcher.handler import handle_stream
        from functions.live_updates.handler import handle_stream as live_updates
        from local_stack.stream_poller import RoundReads, StreamPoller
        from shared.plumbing import schema
        from shared.plumbing.config import settings

        # On AWS the stream has two readers, each with its own event source mapping (position,
        # filter, retries); so here. The dispatcher's follows schema.DISPATCHER_STREAM exactly.
        # Where both read from the same place in a round, the second gets a copy of the first's
        # answer (RoundReads).
        reader = schema.DISPATCHER_STREAM
        round_reads = RoundReads()
        pollers = [
            StreamPoller(
                settings().table_name,
                handle_stream,
                shard_refresh_seconds=5.0,
                filters=reader.filters,
                retry_attempts=reader.retry_attempts,
                failure_queue=schema.STREAM_FAILURE_QUEUE.local_name,
                retry_backoff_seconds=0.5,  # 0.5, 1, 2, 4, 8 s: ~15 s before the failure queue
                round_reads=round_reads,
            ),
            StreamPoller(
                settings().table_name,
                _never_failing(live_updates),
                shard_refresh_seconds=5.0,
                filters=schema.LIVE_STREAM.filters,
                round_reads=round_reads,
            ),
        ]
        while not self._stop.is_set():
            round_reads.clear()
            delivered = 0
            for poller in pollers:
                try:
                    delivered += poller.poll_once()
                except Exception:  # a failed poll is retried, as the event source mapping would
                    logger.exception("stream poll failed")
            if not delivered:  # a full read may have left more: read again at once
                self._wakeups.table.wait(SAFETY_SECONDS)
            self._stop.wait(self.stream_window)

    def _sweep_loop(self) -> None:
        from functions.dispatcher.handler import handler as dispatcher

        seen_writes = -1
        last_sweep = next_sweep_at = time.monotonic()
        while not self._stop.wait(self.sweep_interval):
            # Nothing written since the last sweep: only time moved, and the SQS timer messages
            # keep time; the sweep, a safety net, then runs once a minute as on AWS.
            quiet = self._wakeups.writes == seen_writes
            if quiet and time.monotonic() - last_sweep < self.idle_sweep_interval:
                continue
            if time.monotonic() < next_sweep_at:
                continue
            seen_writes = self._wakeups.writes
            last_sweep = time.monotonic()
            try:
                dispatcher({"sweep": True})
            except Exception:
                logger.exception("timer sweep failed")
            # A sweep reads every queue's timers (scans, in moto): once the tables are large, one
            # can take seconds. Waiting ten times as long as the last one took keeps the safety net
            # under a tenth of a core instead of starving the requests it is a net for.
            next_sweep_at = time.monotonic() + SWEEP_SHARE_INVERSE * (time.monotonic() - last_sweep)

    def stop(self) -> None:
        self._stop.set()
        self._wakeups.ring_all()
        if self._websockets is not None:
            self._websockets.close_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._moto.stop()


Consumer = Callable[[list[dict[str, Any]]], None]


def _never_failing(consumer: Consumer) -> Consumer:
    """Live updates are only news while they are fresh: a failed batch is logged, not retried."""

    def deliver(records: list[dict[str, Any]]) -> None:
        try:
            consumer(records)
        except Exception:
            logger.exception("stream consumer %s failed", getattr(consumer, "__module__", consumer))

    return deliver
