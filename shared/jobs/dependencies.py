"""Job dependencies: when a gated job is released or cancelled, and the store calls that do it.

A job with parents (a workflow job with depends_on, a job created with parent_job_id, a job given
dependencies later) is created without a ready-index key and with dependencies_met = false, so no
claim can see it. Each time a parent finishes, the dispatcher's stream handler calls `settle` for
each of the parent's dependents: a consistent read of the child and its parents, a pure decision
(`decide`), and one conditional write. Cancelling a gated job is itself a status change on the
stream, so a failure cascades level by level. Every write is conditional on the version it was
decided on: a replayed stream batch, or two parents finishing at once, changes the job once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any

from shared.identity.credentials import AuthContext
from shared.jobs import expressions as ex
from shared.jobs.states import JobStatus
from shared.jobs.store import JobStore
from shared.plumbing import aws_clients, dynamo_codec
from shared.plumbing.errors import BadRequest, Conflict, NotFound

S = JobStatus
logger = logging.getLogger("spooled.dependencies")

ENDED_WITHOUT_RESULT = frozenset({S.FAILED, S.DEADLETTER, S.CANCELLED})
MODES = ("all", "any")
# Looking for a cycle walks the jobs downstream of the one gaining parents; this bounds the walk.
MAX_GRAPH_WALK = 10_000
MAX_JOB_ID_BYTES = 255
SETTLE_ATTEMPTS = 4


class Decision(StrEnum):
    RELEASE = "release"
    CANCEL = "cancel"
    WAIT = "wait"


# --- the policy (pure) -----------------------------------------------------------------------


def decide(mode: str, parent_statuses: Sequence[str | None]) -> Decision:
    """What a gated job's parents call for. A parent that no longer exists (None) was purged from
    the dead-letter queue: it can never complete. Unknown statuses count as still running."""
    ended = [status is None or status in ENDED_WITHOUT_RESULT for status in parent_statuses]
    completed = [status == S.COMPLETED for status in parent_statuses]
    if not parent_statuses:
        return Decision.RELEASE
    if mode == "any":
        if any(completed):
            return Decision.RELEASE
        return Decision.CANCEL if all(ended) else Decision.WAIT
    if any(ended):
        return Decision.CANCEL
    return Decision.RELEASE if all(completed) else Decision.WAIT


def cancel_reason(mode: str, parents: Mapping[str, str | None], single_parent: bool) -> str:
    if mode == "any":
        return "No dependency job can complete any more: every one failed or was cancelled"
    parent_id, status = next((p, s) for p, s in parents.items() if s is None or s in ENDED_WITHOUT_RESULT)
    who = "Parent job" if single_parent else "Dependency job"
    return f"{who} {parent_id} {'no longer exists' if status is None else 'ended ' + status}"


def find_cycle(graph: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A cycle in `graph` (node → the nodes it depends on) as a path that starts and ends on the
    same node, or None. Edges to nodes outside the graph are ignored."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for root in graph:
        if state.get(root):
            continue
        path: list[str] = [root]
        branches = [iter(graph[root])]
        state[root] = 1
        while branches:
            node = next(branches[-1], None)
            if node is None:
                state[path.pop()] = 2
                branches.pop()
            elif node not in graph or state.get(node) == 2:
                continue
            elif state.get(node) == 1:
                return [*path[path.index(node) :], node]
            else:
                state[node] = 1
                path.append(node)
                branches.append(iter(graph[node]))
    return None


def topological_order(graph: Mapping[str, Sequence[str]]) -> list[str]:
    """Parents before children, otherwise in the graph's own order (the graph has no cycle)."""
    placed: dict[str, None] = {}

    def place(node: str, trail: tuple[str, ...]) -> None:
        if node in placed or node not in graph or node in trail:
            return
        for parent in graph[node]:
            place(parent, (*trail, node))
        placed[node] = None

    for node in graph:
        place(node, ())
    return list(placed)


# --- the store side ------------------------------------------------------------------------


def _could_be_job_id(job_id: str) -> bool:
    return 0 < len(job_id.encode("utf-8")) <= MAX_JOB_ID_BYTES


class Dependencies:
    def __init__(self, store: JobStore | None = None) -> None:
        self.store = store or JobStore()
        self.table = self.store.table

    @property
    def _db(self) -> Any:
        return aws_clients.client("dynamodb")

    # --- reads ---------------------------------------------------------------------------

    def gate_item(self, org_id: str, job_id: str) -> dict[str, Any] | None:
        found = self._db.get_item(**ex.get_job_for_gate(self.table, org_id, job_id))
        return dynamo_codec.decode_item(found["Item"]) if "Item" in found else None

    def read_jobs(
        self, org_id: str, job_ids: Iterable[str], projection: str | None = ex.STATUS_PROJECTION
    ) -> dict[str, dict[str, Any]]:
        """Consistent batch reads by id; unknown ids are left out."""
        unique = list(dict.fromkeys(job_ids))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(unique), 100):
            request = ex.batch_get_jobs(self.table, org_id, unique[start : start + 100], projection)
            while request:
                response = self._db.batch_get_item(RequestItems=request)
                for raw in response.get("Responses", {}).get(self.table, []):
                    item = dynamo_codec.decode_item(raw)
                    found[item["id"]] = item
                request = response.get("UnprocessedKeys") or {}
        return found

    # --- release and cascade -------------------------------------------------------------

    def settle(self, org_id: str, job_id: str) -> Decision | None:
        """Release or cancel one gated job if its parents call for it. Returns what was done (None:
        nothing to do). A lost race re-reads and decides again."""
        for _ in range(SETTLE_ATTEMPTS):
            child = self.gate_item(org_id, job_id)
            if (
                child is None
                or child.get("dependencies_met") is not False
                or child["status"] not in ex.WAITING
            ):
                return None
            parent_ids = child.get("depends_on") or []
            found = self.read_jobs(org_id, parent_ids)
            parents = {parent_id: found.get(parent_id, {}).get("status") for parent_id in parent_ids}
            mode = child.get("dependency_mode") or "all"
            decision = decide(mode, list(parents.values()))
            if decision == Decision.WAIT:
                return None
            if self.store.conditional_update(self._transition(org_id, child, decision, parents)):
                return decision
        logger.warning(
            "settling job %s lost %d races in a row; the next change retries", job_id, SETTLE_ATTEMPTS
        )
        return None

    def _transition(
        self, org_id: str, child: dict[str, Any], decision: Decision, parents: Mapping[str, str | None]
    ) -> dict[str, Any]:
        key = ex.job_key(org_id, child["id"])
        now_ms = self.store.clock.now_ms()
        if decision == Decision.CANCEL:
            mode = child.get("dependency_mode") or "all"
            return ex.cancel_gated(
                self.table,
                key,
                status=child["status"],
                reason=cancel_reason(mode, parents, single_parent=len(parents) == 1),
                seen_version=child.get("version", 0),
                now_ms=now_ms,
            )
        return ex.release(
            self.table,
            key,
            status=child["status"],
            org_id=org_id,
            queue=child["queue_name"],
            job_id=child["id"],
            priority=child["priority"],
            created_ms=child["created_at"],
            shard=ex.shard_of(child["id"], self.store.ready_shards_of(org_id, child["queue_name"])),
            seen_version=child.get("version", 0),
            now_ms=now_ms,
        )

    # --- the API: GET/POST /jobs/{id}/dependencies (contract §2.8) ------------------------

    def _visible(self, ctx: AuthContext, job_id: str) -> dict[str, Any]:
        item = self.gate_item(ctx.org_id, job_id) if _could_be_job_id(job_id) else None
        if item is None or not ctx.allows_queue(item["queue_name"]):
            raise NotFound()
        return item

    def _rows(self, ctx: AuthContext, job_ids: list[str]) -> list[dict[str, Any]]:
        found = self.read_jobs(ctx.org_id, job_ids)
        return [
            {"job_id": job_id, "status": found[job_id]["status"], "queue_name": found[job_id]["queue_name"]}
            for job_id in job_ids
            if job_id in found and ctx.allows_queue(found[job_id]["queue_name"])
        ]

    def document(self, ctx: AuthContext, job_id: str) -> dict[str, Any]:
        item = self._visible(ctx, job_id)
        return {
            "job_id": job_id,
            "dependencies": self._rows(ctx, item.get("depends_on") or []),
            "dependents": self._rows(ctx, item.get("dependents") or []),
            "dependency_mode": item.get("dependency_mode") or "all",
            # A job without parents has nothing to wait for.
            "dependencies_met": item.get("dependencies_met") is not False,
        }

    def _downstream(self, org_id: str, job_id: str) -> set[str]:
        """Every job that (transitively) depends on job_id."""
        seen: set[str] = set()
        frontier = [job_id]
        while frontier:
            items = self.read_jobs(org_id, frontier, "id, dependents")
            frontier = []
            for item in items.values():
                for child in item.get("dependents") or []:
                    if child not in seen:
                        seen.add(child)
                        frontier.append(child)
            if len(seen) > MAX_GRAPH_WALK:
                raise BadRequest(
                    f"More than {MAX_GRAPH_WALK} jobs depend on this job; no dependencies can be added"
                )
        return seen

    def add(self, ctx: AuthContext, job_id: str, parent_ids: list[str], mode: str) -> dict[str, Any]:
        child = self._visible(ctx, job_id)
        if child["status"] not in ex.WAITING:
            raise Conflict("Only pending or scheduled jobs can get dependencies")
        wanted = [p for p in dict.fromkeys(parent_ids) if p != job_id]
        if any(not _could_be_job_id(p) for p in wanted):
            raise NotFound()
        found = self.read_jobs(ctx.org_id, wanted)
        if any(p not in found or not ctx.allows_queue(found[p]["queue_name"]) for p in wanted):
            raise NotFound()
        new: list[str] = []
        # Another caller adding edges to the same job bumps its version between our read and our
        # write: both calls should win, so the loser re-reads and adds what is still missing.
        for _ in range(SETTLE_ATTEMPTS):
            existing = child.get("depends_on") or []
            if child["status"] not in ex.WAITING:
                self._unlink(ctx.org_id, [p for p in new if p not in existing], job_id)
                raise Conflict("The job was claimed or cancelled while dependencies were added")
            candidates = [p for p in wanted if p not in existing]
            # The parents name the child before the cycle check: of two callers adding edges that
            # close a cycle between them, the later check sees the other's link and skips its edge.
            self._link(ctx.org_id, candidates, job_id)
            # An edge from a job downstream of this one would close a cycle: skipped, as the contract
            # says, and its link taken back.
            downstream = self._downstream(ctx.org_id, job_id) if candidates else set()
            self._unlink(ctx.org_id, [p for p in candidates if p in downstream], job_id)
            new = [p for p in candidates if p not in downstream]
            # The contract's call sets the job's mode even when every edge it names exists already.
            mode_changes = bool(existing) and mode != (child.get("dependency_mode") or "all")
            if not new and not mode_changes:
                break
            if self._gate(ctx.org_id, child, new, mode):
                break
            child = self.gate_item(ctx.org_id, job_id) or {"status": S.CANCELLED}
        else:
            self._unlink(ctx.org_id, [p for p in new if p not in (child.get("depends_on") or [])], job_id)
            raise Conflict("The job kept changing while dependencies were added; retry")
        self.settle(ctx.org_id, job_id)
        after = self.gate_item(ctx.org_id, job_id) or child
        met = after.get("dependencies_met") is not False
        return {
            "job_id": job_id,
            "dependencies_added": len(new),
            "added_count": len(new),
            "dependencies_met": met,
        }

    def _link(self, org_id: str, parents: list[str], child_id: str) -> None:
        # Before the gate: once the child is gated, every parent already names it, so a parent that
        # finishes from then on reaches it through the stream, and one that finished before is seen
        # by the settle that follows. A parent that names the child already is left as it is.
        for parent_id in parents:
            self.store.conditional_update(ex.link_dependent(self.table, org_id, parent_id, child_id))

    def _unlink(self, org_id: str, parents: list[str], child_id: str) -> None:
        for parent_id, item in self.read_jobs(org_id, parents, "id, dependents").items():
            listed = item.get("dependents") or []
            if child_id in listed:
                self.store.conditional_update(
                    ex.unlink_dependent(self.table, org_id, parent_id, child_id, listed.index(child_id))
                )

    def _gate(self, org_id: str, child: dict[str, Any], parents: list[str], mode: str) -> bool:
        """False: the job changed since it was read, and nothing of it was written."""
        args = ex.gate(
            self.table,
            ex.job_key(org_id, child["id"]),
            add_parents=parents,
            mode=mode,
            seen_version=child.get("version", 0),
            now_ms=self.store.clock.now_ms(),
        )
        return self.store.conditional_update(args)


# --- the stream ----------------------------------------------------------------------------
