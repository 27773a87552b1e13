"""API keys (contract §2.12, §3.13): create, list, get, update, revoke.

A key is stored only as its SHA-256 (the item `APIKEY#{hash}` that authentication reads in one
GetItem); the full key is returned once, by create. An immutable pointer `APIKEYID#{org}#{id}`
finds the key by id. The organization item counts its active keys, moved in the same transaction
as a key's is_active flag, which is what enforces a configured `max_api_keys` without a race.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from shared.identity import expressions as ex
from shared.identity import plan_limits
from shared.identity.credentials import AuthContext, api_key_item, hash_key, mint_key
from shared.plumbing import aws_clients, dynamo_codec, schema, table_keys, table_service
from shared.plumbing.aws_clients import error_code as _error_code
from shared.plumbing.clock import from_datetime, to_rfc3339
from shared.plumbing.errors import AccessDenied, NotFound, QuotaExceeded, Unauthorized, ValidationFailed
from shared.plumbing.table_service import TableService

if TYPE_CHECKING:  # request models are built only where a route parses a body
    from shared.identity import requests as am

LAST_USED_EVERY_MS = 5 * 60 * 1000  # last_used is coarse on purpose: one write per key per 5 min
# Authentication reads a key item through a per-container cache this old at most: a revoke, an
# update or a delete applies at once in the container that made it and within this bound in every
# other (docs/security.md). One consistent GetItem per key per container per 5 s, not per request.
KEY_CACHE_SECONDS = 5.0
_key_cache: dict[str, tuple[float, dict[str, Any]]] = {}
_key_cache_lock = threading.Lock()


def cached_key_item(table: str, key_hash: str) -> dict[str, Any] | None:
    """The API key item of `key_hash` (None: no such key), at most KEY_CACHE_SECONDS old. Misses
    are not cached, so a key created elsewhere works at once."""
    now = time.monotonic()
    with _key_cache_lock:
        cached = _key_cache.get(key_hash)
    if cached and now - cached[0] < KEY_CACHE_SECONDS:
        return cached[1]
    found = aws_clients.client("dynamodb").get_item(
        TableName=table, Key=ex.api_key_key(key_hash), ConsistentRead=True
    )
    if "Item" not in found:
        return None
    item = dynamo_codec.decode_item(found["Item"])
    with _key_cache_lock:
        _key_cache[key_hash] = (now, item)
    return item


def forget_cached_keys() -> None:
    """A key was written in this process: no request here may authenticate with the old item."""
    with _key_cache_lock:
        _key_cache.clear()


# The test fixtures reset every cache a shared module holds through `cache_clear`.
cached_key_item.cache_clear = forget_cached_keys  # type: ignore[attr-defined]
MAX_LISTED = 100
MAX_ID_LENGTH = 255


def _cancellation_codes(error: Exception) -> list[str]:
    reasons = getattr(error, "response", {}).get("CancellationReasons") or []
    return [reason.get("Code", "None") for reason in reasons]


def key_document(item: dict[str, Any]) -> dict[str, Any]:
    """ApiKey (get/update); the list row (ApiKeySummary) is the same document minus the org id."""
    return {
        "id": item["id"],
        "organization_id": item["org_id"],
        "name": item["name"],
        "key_prefix": item.get("key_prefix"),
        "queues": list(item.get("queues") or ["*"]),
        "rate_limit": item.get("rate_limit"),
        "is_active": bool(item.get("is_active", True)),
        "created_at": to_rfc3339(item["created_at"]),
        "last_used": to_rfc3339(item.get("last_used")),
        "expires_at": to_rfc3339(item.get("expires_at")),
    }


def require_usable(item: dict[str, Any] | None, now_ms: int) -> dict[str, Any]:
    """The checks every authenticated request makes on its key (API key or JWT)."""
    if item is None:
        raise Unauthorized("Invalid API key")
    if not item.get("is_active", True):
        raise Unauthorized("API key has been revoked")
    if item.get("expires_at") is not None and item["expires_at"] <= now_ms:
        raise Unauthorized("API key has expired")
    return item


def touch_last_used(table: str, item: dict[str, Any], now_ms: int) -> None:
    if item.get("last_used") is not None and item["last_used"] > now_ms - LAST_USED_EVERY_MS:
        return
    item["last_used"] = now_ms  # the cached copy too: one touch per key per 5 min per container
    try:
        aws_clients.client("dynamodb").update_item(
            **ex.touch_api_key_last_used(table, _hash_of(item), now_ms, now_ms - LAST_USED_EVERY_MS)
        )
    except Exception as error:
        if _error_code(error) != "ConditionalCheckFailedException":
            raise


def _hash_of(item: dict[str, Any]) -> str:
    return str(item["pk"]).split("#", 1)[1]  # the key item's pk is APIKEY#{sha256}


def _requested_queues(ctx: AuthContext | None, queues: list[str] | None) -> list[str]:
    """A scoped caller may only hand out keys narrower than its own (contract §2.12: 403)."""
    wanted = [q for q in dict.fromkeys(queues or [])] or ["*"]
    if ctx is None or ctx.unrestricted:
        return wanted
    if "*" in wanted:
        raise AccessDenied("A queue-scoped API key cannot create an unrestricted key")
    outside = [q for q in wanted if not ctx.allows_queue(q)]
    if outside:
        raise AccessDenied("A queue-scoped API key can only grant queues within its own scope")
    return wanted


def _require_unrestricted(ctx: AuthContext) -> None:
    if not ctx.unrestricted:
        raise AccessDenied("A queue-scoped API key cannot manage API keys")


class ApiKeyService(TableService):
    # --- reads ---------------------------------------------------------------------------

    def load_by_id(self, org_id: str, key_id: str) -> dict[str, Any] | None:
        if len(key_id) > MAX_ID_LENGTH:
            return None  # never an id of ours (and DynamoDB keys have a size limit)
        pointer = self._db.get_item(
            TableName=self.table, Key=ex.api_key_pointer_key(org_id, key_id), ConsistentRead=True
        )
        if "Item" not in pointer:
            return None
        return self.load_by_hash(pointer["Item"]["key_hash"]["S"], org_id)

    def load_by_hash(self, key_hash: str, org_id: str | None = None) -> dict[str, Any] | None:
        found = self._db.get_item(TableName=self.table, Key=ex.api_key_key(key_hash), ConsistentRead=True)
        if "Item" not in found:
            return None
        item = dynamo_codec.decode_item(found["Item"])
        if org_id is not None and item.get("org_id") != org_id:
            return None
        return item

    def org_key_items(self, org_id: str, limit: int = MAX_LISTED) -> list[dict[str, Any]]:
        """The organization's keys, newest first (index for the order, base table for the data)."""
        found = table_service.items_in_partition(
            self.table, schema.BY_ORG_INDEX, ex.keys_by_org_pk(org_id), limit
        )
        return [item for item in found if item.get("org_id") == org_id]

    def list(self, ctx: AuthContext) -> list[dict[str, Any]]:
        _require_unrestricted(ctx)
        rows = []
        for item in self.org_key_items(ctx.org_id):
            document = key_document(item)
            document.pop("organization_id")
            rows.append(document)
        return rows

    def get(self, ctx: AuthContext, key_id: str) -> dict[str, Any]:
        _require_unrestricted(ctx)
        item = self.load_by_id(ctx.org_id, key_id)
        if item is None:
            raise NotFound()
        return key_document(item)

    # --- writes --------------------------------------------------------------------------

    def create(self, ctx: AuthContext, req: am.CreateApiKey) -> dict[str, Any]:
        return self.create_for_org(
            ctx.org_id,
            name=req.name,
            queues=_requested_queues(ctx, req.queues),
            rate_limit=req.rate_limit,
            expires_at=from_datetime(req.expires_at) if req.expires_at else None,
        )

    def create_for_org(
        self,
        org_id: str,
        *,
        name: str,
        queues: list[str] | None,
        rate_limit: int | None,
        expires_at: int | None,
    ) -> dict[str, Any]:
        now_ms = self.clock.now_ms()
        if expires_at is not None and expires_at <= now_ms:
            raise ValidationFailed(
                details=[{"field": "expires_at", "message": "must be in the future", "code": "in_past"}]
            )
        key = mint_key()
        key_id = str(uuid.uuid4())
        key_hash = hash_key(key)
        item = api_key_item(
            org_id=org_id,
            key=key,
            key_id=key_id,
            name=name,
            now_ms=now_ms,
            queues=_requested_queues(None, queues),
            rate_limit=rate_limit,
            expires_at=expires_at,
        )
        pointer = ex.api_key_pointer_item(org_id, key_id, key_hash, now_ms)
        max_keys = plan_limits.for_organization(self._org_item(org_id)).max_api_keys
        try:
            self._db.transact_write_items(
                TransactItems=[
                    {"Put": table_keys.put_new_item(self.table, item)},
                    {"Put": table_keys.put_new_item(self.table, pointer)},
                    {"Update": ex.count_active_api_keys(self.table, org_id, 1, max_keys, now_ms)},
                ]
            )
        except Exception as error:
            if _error_code(error) != "TransactionCanceledException":
                raise
            self._raise_for_count_refusal(org_id, max_keys)
            raise
        return {
            "id": key_id,
            "key": key,  # the only time the full key leaves the service
            "name": name,
            "created_at": to_rfc3339(now_ms),
            "expires_at": to_rfc3339(expires_at),
            "queues": item["queues"],
        }

    def _org_item(self, org_id: str) -> dict[str, Any]:
        found = self._db.get_item(TableName=self.table, Key=table_keys.org_key(org_id), ConsistentRead=True)
        if "Item" not in found:
            raise NotFound()
        return dynamo_codec.decode_item(found["Item"])

    def _raise_for_count_refusal(self, org_id: str, max_keys: int | None) -> None:
        org = self._org_item(org_id)
        if org.get("plan_tier") == "deleted":
            raise NotFound()
        if max_keys is not None and int(org.get("api_key_count", 0)) >= max_keys:
            raise QuotaExceeded(
                f"API key limit reached ({max_keys})",
                error="limit_exceeded",
                resource="api_keys",
                current=int(org.get("api_key_count", 0)),
                limit=max_keys,
                plan=org.get("plan_tier", "enterprise"),
            )

    def update(self, ctx: AuthContext, key_id: str, req: am.UpdateApiKey) -> dict[str, Any]:
        _require_unrestricted(ctx)
        item = self.load_by_id(ctx.org_id, key_id)
        if item is None:
            raise NotFound()
        key_hash = _hash_of(item)
        if req.is_active is not None and req.is_active != bool(item.get("is_active", True)):
            self._set_active(ctx.org_id, key_hash, req.is_active)
        fields: dict[str, Any] = {}
        if req.name is not None:
            fields["name"] = req.name
        if req.queues is not None:
            fields["queues"] = _requested_queues(ctx, req.queues)
        if req.rate_limit is not None:
            fields["rate_limit"] = req.rate_limit
        now_ms = self.clock.now_ms()
        try:
            response = self._db.update_item(
                **ex.update_api_key_fields(
                    self.table, key_hash, org_id=ctx.org_id, fields=fields, now_ms=now_ms
                )
            )
        except Exception as error:
            if _error_code(error) == "ConditionalCheckFailedException":
                raise NotFound() from error
            raise
        forget_cached_keys()
        return key_document(dynamo_codec.decode_item(response["Attributes"]))

    def _set_active(self, org_id: str, key_hash: str, active: bool) -> None:
        now_ms = self.clock.now_ms()
        max_keys = plan_limits.for_organization(self._org_item(org_id)).max_api_keys if active else None
        flag = ex.set_api_key_active(self.table, key_hash, org_id=org_id, active=active, now_ms=now_ms)
        count = ex.count_active_api_keys(self.table, org_id, 1 if active else -1, max_keys, now_ms)
        try:
            self._db.transact_write_items(TransactItems=[{"Update": flag}, {"Update": count}])
            forget_cached_keys()
        except Exception as error:
            if _error_code(error) != "TransactionCanceledException":
                raise
            codes = _cancellation_codes(error)
            if codes and codes[0] == "ConditionalCheckFailed":
                return  # already in the wanted state (a concurrent revoke won): nothing to do
            self._raise_for_count_refusal(org_id, max_keys)
            raise

    def revoke(self, ctx: AuthContext, key_id: str) -> None:
        _require_unrestricted(ctx)
        item = self.load_by_id(ctx.org_id, key_id)
        if item is None:
            raise NotFound()
        if item.get("is_active", True):
            self._set_active(ctx.org_id, _hash_of(item), False)

    def revoke_all(self, org_id: str) -> int:
        """Deactivate every key of an organization (organization deletion); returns how many."""
        revoked = 0
        for item in self.org_key_items(org_id, limit=10_000):
            if item.get("is_active", True):
                try:
                    self._db.update_item(
                        **ex.set_api_key_active(
                            self.table,
                            _hash_of(item),
                            org_id=org_id,
                            active=False,
                            now_ms=self.clock.now_ms(),
                        )
                    )
                    revoked += 1
                    forget_cached_keys()
                except Exception as error:
                    if _error_code(error) != "ConditionalCheckFailedException":
                        raise
        return revoked
