"""Outgoing webhooks: the delivery queue and the function that calls customers' endpoints."""

from __future__ import annotations

from functions.webhooks.handler import MAX_PARALLEL
from shared.plumbing import schema
from shared.webhooks.outgoing.http import CONNECT_TIMEOUT_SECONDS, REQUEST_TIMEOUT_SECONDS
from tests.cdk.conftest import Synthesized
from tests.cdk.template_tools import (
    all_table_permissions,
    consume_permissions,
    function_of,
    log_permissions,
    mappings_of,
    permissions,
    send_permission,
)

DELIVERIES = schema.WEBHOOK_DELIVERY_QUEUE


def test_webhooks_function_gets_batches_it_can_deliver_in_time(synthesized: Synthesized) -> None:
    webhooks, function = function_of(synthesized, "Webhooks")
    mappings = mappings_of(synthesized, webhooks)
    assert set(mappings) == {f"{DELIVERIES.logical_id}.Arn"}
    (deliveries,) = mappings.values()
    # The handler delivers a batch's records side by side, MAX_PARALLEL at a time: a batch no
    # larger than that takes as long as one attempt.
    assert 1 <= deliveries["BatchSize"] <= MAX_PARALLEL
    assert deliveries["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # A burst of events may not take the account's whole concurrency from the API.
    assert 2 <= deliveries["ScalingConfig"]["MaximumConcurrency"] <= 50
    props = function["Properties"]
    # A slow receiver's full attempt (connect + answer) fits, and SQS does not hand the message
    # to another invocation while this one may still be running.
    assert props["Timeout"] > CONNECT_TIMEOUT_SECONDS + REQUEST_TIMEOUT_SECONDS
    assert props["Timeout"] <= DELIVERIES.visibility_timeout_seconds
    assert props["RecursiveLoop"] == "Allow"  # retries go back to its own queue
    # Outbound HTTPS to customers' endpoints: no VPC (and so no NAT gateway to pay for).
    assert "VpcConfig" not in props


def test_only_the_dispatcher_and_the_webhooks_function_send_deliveries(synthesized: Synthesized) -> None:
    senders = {
        name
        for name in ("Api", "Dispatcher", "LambdaInvoker", "Scheduler", "Webhooks", "LiveUpdates")
        if send_permission(DELIVERIES) in permissions(synthesized.by_path(f"{name}/Role/Resource")[1])
    }
    assert senders == {"Dispatcher", "Webhooks"}


def test_webhooks_role_has_exactly_its_permissions(synthesized: Synthesized) -> None:
    _, role = synthesized.by_path("Webhooks/Role/Resource")
    expected = log_permissions(synthesized, "Webhooks") | all_table_permissions()
    expected |= consume_permissions(DELIVERIES) | {send_permission(DELIVERIES)}
    assert permissions(role) == expected
