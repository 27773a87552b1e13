"""DynamoDB, DynamoDB Streams and SQS calls handed straight to the in-process moto, without
botocore's HTTP endpoint machinery: the same answers, the same errors, under the same lock.

With mock_aws, a call goes through botocore's Endpoint as if it went over HTTP: an AWSRequest is
built and prepared, the request-created handlers run (the signer, which local_stack skips for these
hosts anyway; the retry headers; a rebuild of the User-Agent), before-send hands it to moto's
stubber, the answer comes back as an AWSResponse, is parsed, and the needs-retry handler builds a
retry context to find that a success needs no retry. Under the 16-worker bench that machinery
(outside the parse) was a twentieth of the stack's CPU.

Here a client class gets a base (DirectCalls, added through botocore's creating-client-class event
while install()ed: clients created before keep going the usual way) whose _make_request does what
Endpoint._send_request does, for the first attempt with less:
- the request is built and prepared as Endpoint.create_request builds it, without emitting
  request-created: moto reads none of the headers those handlers add (amz-sdk-invocation-id,
  amz-sdk-request, the rebuilt User-Agent and Powertools' feature in it; moto takes the region from
  the URL), and the request goes unsigned either way (inprocess_moto.py). The retries context gets
  what they would put in it;
- it goes to the InProcessMoto's own answer function (moto lock, wakeups), as before-send would
  have sent it there, and comes back as the AWSResponse moto's BotocoreStubber builds;
- it is parsed exactly as Endpoint._do_get_response parses it: convert_to_response_dict, checksum
  handling, history records, before-parse, the client's parser, modeled error fields for a status
  of 300 or more (a ConditionalCheckFailedException's Item, a TransactionCanceledException's
  CancellationReasons). response-received is emitted when anything listens to it;
- needs-retry is emitted as the endpoint emits it, except for a 2xx answer without an error code
  (and, for DynamoDB, with a CRC32 header that matches) when the only handler is botocore's standard retry
  handler with more than one attempt allowed: for such an answer it retries nothing, adds no
  metadata and takes no quota. ResponseMetadata.RetryAttempts is set as the endpoint sets it.
  When a retry is due, the next attempts go the usual way (before-send, the stubber, the lock).

The shortcut is taken only for requests to the three services' us-east-1 endpoints, while moto's
stubber is enabled, and only when the client's before-send handlers are moto's stubber alone and
its request-created handlers are botocore's four and Powertools' (checked per operation, again
after any handler is registered or unregistered on the client): a client with a hook of its own
(bench/meter.py counts round trips on before-send) goes the usual way. Everything else (S3,
presigned URLs, the WebSocket management API at 127.0.0.1) is untouched. _make_api_call still
emits before-call and after-call and raises the same ClientError subclasses; an exception raised
on the way emits after-call-error as BaseClient._make_request does.

tests/functional/local_stack/test_direct_calls.py runs a job's life both ways and compares every
answer and every error.
"""

from __future__ import annotations

import logging
from binascii import crc32
from collections.abc import Callable
from typing import Any

from botocore import handlers as botocore_handlers
from botocore.awsrequest import AWSResponse, create_request_object
from botocore.endpoint import convert_to_response_dict, history_recorder
from botocore.exceptions import HTTPClientError
from botocore.httpchecksum import handle_checksum_body
from botocore.retries import standard
from botocore.signers import RequestSigner
from botocore.useragent import UserAgentString

logger = logging.getLogger(__name__)

_SERVICES = ("dynamodb", "dynamodb-streams", "sqs")  # botocore's hyphenized service ids
_URLS = (
    "https://dynamodb.us-east-1.amazonaws.com/",
    "https://streams.dynamodb.us-east-1.amazonaws.com/",
    "https://sqs.us-east-1.amazonaws.com/",
)
# botocore's request-created handlers whose work moto never looks at.
_REQUEST_CREATED = {
    RequestSigner.handler,
    standard.MaxAttemptsSeeder.seed_max_attempts,
    UserAgentString.rebuild_and_replace_user_agent_handler,
    botocore_handlers.add_retry_headers,
}

_answer: Callable[[Any], Any] | None = None  # the InProcessMoto's, while installed


def _add_base(base_classes: list[type], **kwargs: Any) -> None:
    if _answer is not None and DirectCalls not in base_classes:
        base_classes.insert(0, DirectCalls)


_HANDLERS = [(f"creating-client-class.{service}", _add_base) for service in _SERVICES]


def install(answer: Callable[[Any], Any]) -> None:
    """answer: what InProcessMoto hands each request to (moto under the lock, then the wakeups)."""
    global _answer
    _answer = answer
    for entry in _HANDLERS:
        if entry not in botocore_handlers.BUILTIN_HANDLERS:
            botocore_handlers.BUILTIN_HANDLERS.append(entry)


def uninstall() -> None:
    global _answer
    _answer = None
    for entry in _HANDLERS:
        while entry in botocore_handlers.BUILTIN_HANDLERS:
            botocore_handlers.BUILTIN_HANDLERS.remove(entry)


class _Plan:
    """What the direct path needs to know of one operation on one client."""

    __slots__ = ("before_parse", "max_attempts", "response_received", "service_id", "stream_output")

    def __init__(self, service_id: str, operation_model: Any) -> None:
        self.service_id = service_id
        self.stream_output = any(
            [operation_model.has_streaming_output, operation_model.has_event_stream_output]
        )
        self.before_parse = True
        self.response_received = True
        # The standard retry handler's attempts when it is needs-retry's only handler, else 0.
        self.max_attempts = 0


def _plan_of(client: Any, operation_model: Any) -> _Plan | None:
    """The operation's plan, or None when the client's hooks ask for the usual way."""
    from moto.core.models import botocore_stubber

    aliaser = client.meta.events
    emitter = aliaser._emitter
    service_id = operation_model.service_model.service_id.hyphenize()
    operation = operation_model.name

    def handlers(event: str) -> list[Any]:
        name = aliaser._alias_event_name(f"{event}.{service_id}.{operation}")
        return list(emitter._handlers.prefix_search(name))

    before_send = handlers("before-send")
    if len(before_send) != 1 or before_send[0] is not botocore_stubber:
        return None
    if "_moto_sign" not in vars(RequestSigner):  # inprocess_moto's unsigned requests are off
        return None
    for handler in handlers("request-created"):
        if getattr(handler, "__func__", handler) not in _REQUEST_CREATED and not _is_powertools(handler):
            return None
    plan = _Plan(service_id, operation_model)
    plan.before_parse = bool(handlers("before-parse"))
    plan.response_received = bool(handlers("response-received"))
    needs_retry = handlers("needs-retry")
    if len(needs_retry) == 1:
        retry = needs_retry[0]
        owner = getattr(retry, "__self__", None)
        if type(owner) is standard.RetryHandler and retry.__func__ is standard.RetryHandler.needs_retry:
            checker = getattr(getattr(owner, "_retry_policy", None), "_retry_checker", None)
            if type(checker) is standard.StandardRetryConditions:
                plan.max_attempts = checker._max_attempts_checker._max_attempts
    return plan


def _is_powertools(handler: Any) -> bool:
    """Powertools' request-created handler (each boto3 session gets one once it is imported), which
    appends its feature to the User-Agent header and does nothing else."""
    try:
        from aws_lambda_powertools.shared.user_agent import _create_feature_function
    except ImportError:
        return False
    return getattr(handler, "__code__", None) is _create_feature_function("").__code__


class DirectCalls:
    """A base of the clients' classes: _make_request straight to the in-process moto."""

    def _make_request(self, operation_model: Any, request_dict: dict[str, Any], request_context: Any) -> Any:
        answer = _answer
        if answer is not None and request_dict["url"] in _URLS:
            plan = self._direct_plan(operation_model)
            if plan is not None:
                try:
                    return _send(self._endpoint, plan, answer, operation_model, request_dict)  # type: ignore[attr-defined]
                except Exception as e:
                    self.meta.events.emit(  # type: ignore[attr-defined]
                        f"after-call-error.{plan.service_id}.{operation_model.name}",
                        exception=e,
                        context=request_context,
                    )
                    raise
        return super()._make_request(operation_model, request_dict, request_context)  # type: ignore[misc]

    def _direct_plan(self, operation_model: Any) -> _Plan | None:
        from moto.core.models import botocore_stubber

        if not botocore_stubber.enabled:
            return None
        try:
            lookups = self.meta.events._emitter._lookup_cache  # type: ignore[attr-defined]
        except AttributeError:
            return None
        # Any register or unregister on the client's emitter replaces its lookup cache: the plans
        # made before it are dropped with it.
        known = self.__dict__.get("_direct_plans")
        if known is None or known[0] is not lookups:
            known = self.__dict__["_direct_plans"] = (lookups, {})
        plans = known[1]
        name = operation_model.name
        if name not in plans:
            plans[name] = _plan_of(self, operation_model)
        return plans[name]


def _send(endpoint: Any, plan: _Plan, answer: Any, operation_model: Any, request_dict: dict[str, Any]) -> Any:
    """Endpoint._send_request, the first attempt straight to moto."""
    attempts = 1
    context = request_dict["context"]
    endpoint._update_retries_context(context, attempts)
    if plan.max_attempts:  # what MaxAttemptsSeeder (request-created) puts there
        retries = context["retries"]
        retries["max"] = max(retries.get("max", 0), plan.max_attempts)
    request = create_request_object(request_dict)
    request.stream_output = plan.stream_output
    request = endpoint.prepare_request(request)
    success_response, exception = _first_response(endpoint, plan, answer, request, operation_model, context)
    if plan.response_received:
        _emit_response_received(endpoint, plan, operation_model, context, success_response, exception)
    if _retries_nothing(plan, operation_model, success_response, exception):
        retry = False
    else:
        retry = endpoint._needs_retry(attempts, operation_model, request_dict, success_response, exception)
    while retry:
        attempts += 1
        endpoint._update_retries_context(context, attempts, success_response)
        request.reset_stream()
        request = endpoint.create_request(request_dict, operation_model)
        success_response, exception = endpoint._get_response(request, operation_model, context)
        retry = endpoint._needs_retry(attempts, operation_model, request_dict, success_response, exception)
    if success_response is not None and "ResponseMetadata" in success_response[1]:
        success_response[1]["ResponseMetadata"]["RetryAttempts"] = attempts - 1
    if exception is not None:
        raise exception
    return success_response


def _retries_nothing(plan: _Plan, operation_model: Any, success_response: Any, exception: Any) -> bool:
    """True when botocore's standard retry handler, needs-retry's only handler, would neither retry
    this answer nor change it (StandardRetryConditions: no checker takes a 2xx answer without an
    error code on a first attempt below the maximum, and DynamoDB's CRC32 check passes)."""
    if plan.max_attempts <= 1 or exception is not None or success_response is None:
        return False
    http_response, parsed = success_response
    if not 200 <= http_response.status_code < 300:
        return False
    error = parsed.get("Error", {})
    if isinstance(error, dict) and error.get("Code") is not None:
        return False
    checksum = http_response.headers.get("x-amz-crc32")
    if checksum is not None and operation_model.service_model.service_name == "dynamodb":
        # RetryDDBChecksumError retries an answer whose CRC32 does not match (moto sends one).
        try:
            return crc32(http_response.content) & 0xFFFFFFFF == int(checksum)
        except ValueError:
            return False
    return True


def _first_response(
    endpoint: Any, plan: _Plan, answer: Any, request: Any, operation_model: Any, context: Any
) -> tuple[Any, Any]:
    """Endpoint._do_get_response, with moto's answer in place of before-send's."""
    from moto.core.botocore_stubber import MockRawResponse

    try:
        history_recorder.record(
            "HTTP_REQUEST",
            {
                "method": request.method,
                "headers": request.headers,
                "streaming": operation_model.has_streaming_input,
                "url": request.url,
                "body": request.body,
            },
        )
        response = answer(request)
        if response is None:
            http_response = endpoint._send(request)
        else:
            status, headers, body = response
            http_response = AWSResponse(request.url, status, headers, MockRawResponse(body))
    except HTTPClientError as e:
        return (None, e)
    except Exception as e:
        logger.debug("Exception received when sending HTTP request.", exc_info=True)
        return (None, e)
    response_dict = convert_to_response_dict(http_response, operation_model)
    handle_checksum_body(http_response, response_dict, context, operation_model)
    http_response_record_dict = response_dict.copy()
    http_response_record_dict["streaming"] = operation_model.has_streaming_output
    history_recorder.record("HTTP_RESPONSE", http_response_record_dict)
    protocol = operation_model.service_model.resolved_protocol
    customized_response_dict: dict[str, Any] = {}
    if plan.before_parse:
        endpoint._event_emitter.emit(
            f"before-parse.{plan.service_id}.{operation_model.name}",
            operation_model=operation_model,
            response_dict=response_dict,
            customized_response_dict=customized_response_dict,
        )
    parser = endpoint._response_parser_factory.create_parser(protocol)
    parsed_response = parser.parse(response_dict, operation_model.output_shape)
    parsed_response.update(customized_response_dict)
    if http_response.status_code >= 300:
        endpoint._add_modeled_error_fields(response_dict, parsed_response, operation_model, parser)
    history_recorder.record("PARSED_RESPONSE", parsed_response)
    return (http_response, parsed_response), None


def _emit_response_received(
    endpoint: Any, plan: _Plan, operation_model: Any, context: Any, success_response: Any, exception: Any
) -> None:
    """What Endpoint._get_response emits after the first attempt."""
    kwargs_to_emit: dict[str, Any] = {
        "response_dict": None,
        "parsed_response": None,
        "context": context,
        "exception": exception,
    }
    if success_response is not None:
        http_response, parsed_response = success_response
        kwargs_to_emit["parsed_response"] = parsed_response
        kwargs_to_emit["response_dict"] = convert_to_response_dict(http_response, operation_model)
    endpoint._event_emitter.emit(
        f"response-received.{plan.service_id}.{operation_model.name}", **kwargs_to_emit
    )
