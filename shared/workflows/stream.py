"""What the table's stream means for dependencies and workflows: release or cancel the dependents of
jobs that finished, then bring their workflows' status up to date (docs/workflows.md).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from shared.jobs import expressions as ex
from shared.jobs.dependencies import Dependencies
from shared.jobs.states import TERMINAL
from shared.jobs.store import JobStore

logger = logging.getLogger(__name__)


def changes(records: Iterable[dict[str, Any]]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """From a stream batch: (org, child) of every dependent of a job that just finished, and
    (org, workflow) of every workflow one of whose jobs changed status. In order, without repeats."""
    children: dict[tuple[str, str], None] = {}
    workflows: dict[tuple[str, str], None] = {}
    for record in records:
        change = record.get("dynamodb", {})
        old = ex.decoded_job_image(change.get("OldImage"))
        new = ex.decoded_job_image(change.get("NewImage"))
        if new is None or (old is not None and old.get("status") == new.get("status")):
            continue
        if new["status"] in TERMINAL:
            for child in new.get("dependents") or []:
                children[(new["org_id"], child)] = None
        if new.get("workflow_id"):
            workflows[(new["org_id"], new["workflow_id"])] = None
    return list(children), list(workflows)


def on_stream_batch(store: JobStore, records: list[dict[str, Any]]) -> None:
    """Release or cancel the dependents of jobs that finished, then bring their workflows' status
    up to date. Each one is tried even when another fails; a failure is raised at the end (the
    dispatcher logs it; the sweep's look at open workflows is the safety net)."""
    children, workflows = changes(records)
    if not children and not workflows:
        return  # most batches: no job with dependents or a workflow finished
    from shared.workflows.service import WorkflowService

    dependencies = Dependencies(store)
    failures = 0
    for org_id, child in children:
        try:
            dependencies.settle(org_id, child)
        except Exception:
            failures += 1
            logger.exception("settling dependent job %s failed", child)
    service = WorkflowService(store)
    for org_id, workflow_id in workflows:
        try:
            service.refresh(org_id, workflow_id)
        except Exception:
            failures += 1
            logger.exception("refreshing workflow %s failed", workflow_id)
    if failures:
        raise RuntimeError(f"{failures} dependency or workflow updates of a stream batch failed")
