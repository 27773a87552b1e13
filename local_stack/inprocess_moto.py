"""moto inside the local stack's own process: each AWS call atomic, and every write observed.

The stack's boto3 clients are the handlers' own (shared/aws_clients.py), unchanged: moto's
mock_aws answers them from botocore's before-send hook instead of over HTTP. That saves, per call,
a socket round trip, werkzeug's request parsing and a thread hand-off (the embedded server cost
10-30 ms a call under load; in-process it is a fraction of that).

Atomicity stays exactly what the server gave: one lock (moto_lock.ATOMIC, the same object)
around moto's handling of each request, response body included, so two conditional writes can
never both pass their check. Requests that moto does not answer (the WebSocket management API at
127.0.0.1) go out over HTTP as before, outside the lock.

moto_speedups.py replaces moto's generic response serializer with json.dumps where the answer is
plain data, the largest share of moto's time per call; botocore_speedups.py parses the JSON answers
on the clients' side with less work, to the same dicts.

Requests to moto's DynamoDB, DynamoDB Streams, SQS and Scheduler are not signed: those backends
never check a signature, and moto reads the region from the endpoint's host and the account from
the access key, which with the stack's offline credentials is the default account, as without one.
SigV4 was a quarter of an in-process GetItem's CPU. Everything else (S3, whose moto backend treats
an unsigned request as anonymous; presigned URLs; requests over HTTP) is signed as before.

After each write the matching bell of local_stack/wakeups.py rings, so the event-source loops can
sleep instead of polling.

moto finds the handler of every request by trying its URL against the URL pattern of each of its
~180 services, then against each URL of the matching backend (a dict moto rebuilds per call, with
a regex compile lookup per entry). MotoRoutes remembers, per clean URL, which service and which of
its backend's URLs matched, and does the rest as moto's BotocoreStubber.process_request does (the
backend looked up on every call, normalize_request, the recorder, HTTPException as its code,
headers and body). The backend's URL table is kept per backend class, only for classes that take
it from BaseBackend unchanged, where it depends on the class alone. Whatever else (a URL no moto
service takes first, passthrough configuration, a backend of another class) goes through moto's
own process_request.

InProcessMoto(direct_calls=True), what `make dev` runs (local_stack/runtime.py), also lets the
clients hand DynamoDB, DynamoDB Streams and SQS calls straight to moto without botocore's HTTP
endpoint machinery: see local_stack/direct_calls.py. Off by default: bench/meter.py counts round
trips through the before-send hook that those calls no longer pass.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any
from urllib.parse import urlsplit

from local_stack import botocore_speedups, direct_calls, moto_speedups
from local_stack.moto_lock import ATOMIC
from local_stack.wakeups import Wakeups

_DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
_SQS_MAKES_VISIBLE = {
    "SendMessage",
    "SendMessageBatch",
    "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch",
}


def _header(request: Any, name: str) -> str:
    value = request.headers.get(name) or ""
    return value.decode() if isinstance(value, bytes) else str(value)


def _call_of(request: Any) -> tuple[str, str]:
    """(service, operation) of a botocore request: "dynamodb", "PutItem"; the operation is empty
    for REST services (scheduler), which carry it in the method and path."""
    service = (urlsplit(request.url).hostname or "").split(".", 1)[0]
    return service, _header(request, "X-Amz-Target").rpartition(".")[2]


# The services the stack calls per request and per loop, whose moto backends never look at a
# signature. Not S3: moto treats an unsigned S3 request as anonymous and answers 403.
_UNSIGNED_SERVICES = ("dynamodb", "streams.dynamodb", "sqs", "scheduler")
_UNSIGNED_HOSTS = tuple(f"{service}.us-east-1.amazonaws.com" for service in _UNSIGNED_SERVICES)


def _skip_signing_for_moto() -> None:
    from botocore.signers import RequestSigner

    if "_moto_sign" in vars(RequestSigner):
        return
    sign = RequestSigner.sign

    def signed_unless_for_moto(
        self: Any, operation_name: Any, request: Any, *args: Any, **kwargs: Any
    ) -> Any:
        signing_type = kwargs.get("signing_type", args[1] if len(args) > 1 else "standard")
        host = urlsplit(request.url).hostname or ""
        if signing_type == "standard" and host in _UNSIGNED_HOSTS:
            return None
        return sign(self, operation_name, request, *args, **kwargs)

    RequestSigner._moto_sign = sign  # type: ignore[attr-defined]
    RequestSigner.sign = signed_unless_for_moto  # type: ignore[method-assign]


def _sign_everything() -> None:
    from botocore.signers import RequestSigner

    original = vars(RequestSigner).get("_moto_sign")
    if original is not None:
        RequestSigner.sign = original  # type: ignore[method-assign]
        del RequestSigner._moto_sign


_UNKNOWN = object()
ROUTES_KEPT = 4096
_URL_PROPERTIES = ("urls", "url_bases", "_url_module")


def _backend_of(service: str) -> Any:
    """The backend moto's process_request picks for a service (created on first use)."""
    import moto.backends as backends
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.core.base_backend import BackendDict

    backend_dict = backends.get_backend(service)  # type: ignore[call-overload]
    if isinstance(backend_dict, BackendDict):
        if "us-east-1" in backend_dict[DEFAULT_ACCOUNT_ID]:
            return backend_dict[DEFAULT_ACCOUNT_ID]["us-east-1"]
        return backend_dict[DEFAULT_ACCOUNT_ID]["aws"]
    return backend_dict["global"]


class MotoRoutes:
    """moto's BotocoreStubber.process_request (moto 5.2), with the URL match remembered."""

    def __init__(self, stubber: Any) -> None:
        from moto.core import config, exceptions, request, utils
        from moto.moto_api import recorder
        from moto.settings import enable_iso_regions

        self._moto = type(stubber).process_request.__get__(stubber)
        self._config = config
        self._exceptions = exceptions
        self._normalize_request = request.normalize_request
        self._equivalent_url = utils.get_equivalent_url_in_aws_domain
        self._recorder = recorder
        self._iso_regions = enable_iso_regions
        # (clean URL, ISO regions on) -> (service, backend class, key in backend.urls), or None
        self._routes: dict[tuple[str, bool], tuple[str, type, str] | None] = {}
        # (backend class, ISO regions on) -> backend.urls, or None for a class that builds its own
        self._urls: dict[tuple[type, bool], dict[str, Any] | None] = {}

    def __call__(self, request: Any) -> Any:
        config = self._config
        parsed_url, _ = self._equivalent_url(request.url)
        clean_url = f"{parsed_url.scheme}://{parsed_url.netloc}{parsed_url.path}"
        if config.passthrough_url(clean_url):
            return None
        key = (clean_url, self._iso_regions())
        route = self._routes.get(key, _UNKNOWN)
        if route is _UNKNOWN:
            if len(self._routes) >= ROUTES_KEPT:  # S3 keys and schedule names make URLs without end
                self._routes.clear()
            route = self._routes[key] = self._route(*key)
        if route is None:
            return self._moto(request)
        service, backend_class, url = route
        if config.passthrough_service(service):
            return None
        if not config.service_whitelisted(service):
            raise self._exceptions.ServiceNotWhitelisted(service)
        backend = _backend_of(service)
        urls = self._urls.get((type(backend), key[1]))
        if type(backend) is not backend_class or urls is None:
            return self._moto(request)
        method_to_execute = urls[url]
        normalized_request = self._normalize_request(request)
        try:
            self._recorder._record_request(normalized_request)
            status, headers, body = method_to_execute(
                normalized_request, normalized_request.raw_url, normalized_request.headers
            )
        except self._exceptions.HTTPException as e:
            status = e.code
            headers = e.get_headers()
            body = e.get_body()
        return status, headers, body

    def _route(self, clean_url: str, iso: bool) -> tuple[str, type, str] | None:
        """The first service whose pattern takes the URL and the first of its backend's URLs that
        does, as moto's loop finds them; None when moto's own loop is to decide each time (the
        first service is passed through or not allowed, or none of its URLs matches and moto
        would go on to the next service)."""
        import moto.backend_index as backend_index
        from moto.core.config import passthrough_service, service_whitelisted

        for service, pattern in backend_index.backend_url_patterns:
            if not pattern.match(clean_url):
                continue
            if passthrough_service(service) or not service_whitelisted(service):
                return None
            backend = _backend_of(service)
            urls = self._urls_of(backend, iso)
            if urls is None:
                return None
            for url in urls:
                if re.compile(url).match(clean_url):
                    return service, type(backend), url
            return None
        return None

    def _urls_of(self, backend: Any, iso: bool) -> dict[str, Any] | None:
        from moto.core.base_backend import BaseBackend

        key = (type(backend), iso)
        if key not in self._urls:
            inherited = all(
                getattr(type(backend), name) is getattr(BaseBackend, name) for name in _URL_PROPERTIES
            )
            self._urls[key] = dict(backend.urls) if inherited else None
        return self._urls[key]


class InProcessMoto:
    def __init__(self, wakeups: Wakeups | None = None, direct_calls: bool = False) -> None:
        """direct_calls: DynamoDB, DynamoDB Streams and SQS calls skip botocore's endpoint
        (local_stack/direct_calls.py). Their before-send, request-created and needs-retry hooks
        then do not run for them, so bench/meter.py's counts need it off."""
        self.wakeups = wakeups or Wakeups()
        self.direct_calls = direct_calls
        self._mock: Any = None
        self._stubber: Any = None
        self.routes: MotoRoutes | None = None

    def start(self) -> InProcessMoto:
        from moto import mock_aws
        from moto.core.models import botocore_stubber

        self._mock = mock_aws()
        self._mock.start()
        moto_speedups.install()
        botocore_speedups.install()
        answer = self.routes = MotoRoutes(botocore_stubber)

        def atomic(request: Any) -> Any:
            service, operation = _call_of(request)
            with ATOMIC:
                response = None
                try:
                    response = answer(request)
                finally:  # also when moto raised: what it wrote before is still accounted for
                    if service == "dynamodb":
                        moto_speedups.dynamodb_called(operation, None if response is None else response[0])
            if response is not None:
                self._observe(service, operation, request)
            return response

        # The instance attribute shadows the method both of moto's entry points call.
        botocore_stubber.process_request = atomic
        self._stubber = botocore_stubber
        _skip_signing_for_moto()
        if self.direct_calls:
            direct_calls.install(atomic)
        self.wakeups.next_visible = self.next_visible
        return self

    def stop(self, keep_data: bool = True) -> None:
        if self.direct_calls:
            direct_calls.uninstall()
        _sign_everything()
        if self._stubber is not None:
            if "process_request" in vars(self._stubber):  # another InProcessMoto's stop took it off
                del self._stubber.process_request
            self._stubber = None
        moto_speedups.uninstall()
        botocore_speedups.uninstall()
        if self._mock is not None:
            # make dev keeps the data: dropping a busy session's tables takes seconds, and the next
            # start of a mock empties every backend anyway. Tests drop it, so that a moto server
            # started next in the same process (the race tests) does not find their tables.
            self._mock.stop(remove_data=not keep_data)
            self._mock = None

    def _observe(self, service: str, operation: str, request: Any) -> None:
        if service == "dynamodb" and operation in _DYNAMODB_WRITES:
            self.wakeups.table_written()
        elif service == "sqs" and operation in _SQS_MAKES_VISIBLE:
            try:
                queue_url = json.loads(request.body or b"{}").get("QueueUrl", "")
            except ValueError:
                return
            if queue_url:
                self.wakeups.queue(queue_url).ring()
        elif service == "scheduler" and request.method != "GET":
            self.wakeups.schedules.ring()

    def next_visible(self, queue_url: str) -> float | None:
        """Seconds until the queue's next delayed or in-flight message becomes receivable (0 when
        one already is), None when it holds none. Read from moto's state: SQS has no API for it."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.sqs.models import sqs_backends

        name = queue_url.rstrip("/").rsplit("/", 1)[-1]
        try:
            with ATOMIC:
                queue = sqs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].queues.get(name)
                if queue is None:
                    return None
                moments = [max(m.visible_at, m.delayed_until) for m in queue._messages]
        except (AttributeError, KeyError):  # another moto version: fall back to plain polling
            return 0.1
        if not moments:
            return None
        return max(0.0, (min(moments) - time.time() * 1000) / 1000)
