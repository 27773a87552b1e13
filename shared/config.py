"""Settings read from the environment once per process (a Lambda container or the local stack)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from shared import schema


@dataclass(frozen=True)
class Settings:
    table_name: str
    payload_bucket: str
    dispatch_queue_url: str
    environment: str  # "production" on AWS, "development" in make dev
    ready_shards: int  # partitions of a queue's ready index; see docs/architecture.md
    default_max_retries: int
    default_timeout_seconds: int
    # Payloads (and results) larger than this many bytes of JSON go to S3, not into the item.
    inline_payload_limit: int
    max_payload_bytes: int
    admin_key: str | None  # the operator key in make dev; on AWS it comes from Secrets Manager
    admin_key_secret_arn: str | None
    version: str = "0.1.0"


@lru_cache(maxsize=1)
def settings() -> Settings:
    env = os.environ
    return Settings(
        table_name=env.get(schema.JOBS_TABLE.env_var, schema.JOBS_TABLE.local_name),
        payload_bucket=env.get(schema.PAYLOAD_BUCKET.env_var, schema.PAYLOAD_BUCKET.local_name),
        dispatch_queue_url=env.get(schema.DISPATCH_QUEUE.env_var, ""),
        environment=env.get("SPOOLED_ENV", "development"),
        ready_shards=int(env.get("SPOOLED_READY_SHARDS", "4")),
        default_max_retries=int(env.get("QUEUE_DEFAULT_MAX_RETRIES", "3")),
        default_timeout_seconds=int(env.get("QUEUE_DEFAULT_TIMEOUT_SECS", "300")),
        inline_payload_limit=int(env.get("SPOOLED_INLINE_PAYLOAD_LIMIT", str(300 * 1024))),
        max_payload_bytes=int(env.get("SPOOLED_MAX_PAYLOAD_BYTES", str(1024 * 1024))),
        admin_key=env.get("SPOOLED_ADMIN_KEY") or None,
        admin_key_secret_arn=env.get("SPOOLED_ADMIN_KEY_SECRET_ARN") or None,
    )
