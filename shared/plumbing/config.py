"""Settings read from the environment once per process (a Lambda container or the local stack)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from shared.plumbing import schema

# Default request limits (docs/deploy.md "Rate limits"): one organization may use half of the
# stage's default 100 requests/s, so no single tenant can take the whole stage; one address
# without a valid credential gets 20 requests/s.
DEFAULT_ORG_RATE_LIMIT_PER_MINUTE = 3_000
DEFAULT_IP_RATE_LIMIT_PER_MINUTE = 1_200


@dataclass(frozen=True)
class Settings:
    table_name: str
    payload_bucket: str
    dispatch_queue_url: str
    environment: str  # "production" on AWS, "development" in make dev
    ready_shards: int  # partitions of a queue's ready index; see docs/architecture.md
    job_shards: int  # table partitions of an organization's jobs, 1-256 (docs/architecture.md)
    default_max_retries: int
    default_timeout_seconds: int
    # Payloads (and results) larger than this many bytes of JSON go to S3, not into the item.
    inline_payload_limit: int
    max_payload_bytes: int
    admin_key: str | None  # the operator key in make dev; on AWS it comes from Secrets Manager
    admin_key_secret_arn: str | None
    version: str = "0.1.0"
    # --- accounts, tokens and limits (contract §1.3, §1.6, §2.3, §2.13) ---
    registration_mode: str = "open"  # REGISTRATION_MODE: open | closed (admin key) | invite (403)
    # The JWT signing secret: SPOOLED_JWT_SECRET in make dev; on AWS the ARN of a Secrets Manager
    # secret the API function reads once per container. Never a value in code.
    jwt_secret: str | None = None
    jwt_secret_arn: str | None = None
    jwt_expiration_hours: int = 1  # access tokens (issue 12, finding 5: was 24)
    # Requests per minute (fixed windows), on by default (docs/deploy.md "Rate limits"); 0 in the
    # environment turns one off. Per organization: every authenticated request. Per client
    # address: every request without a valid credential (public routes but the webhook ingest,
    # which counts per organization once verified, and every failed authentication).
    org_rate_limit_per_minute: int | None = DEFAULT_ORG_RATE_LIMIT_PER_MINUTE
    ip_rate_limit_per_minute: int | None = DEFAULT_IP_RATE_LIMIT_PER_MINUTE
    # A CloudFront distribution fronts the API (stacks/front_door.py): then, and only then, the
    # client's address is CloudFront-Viewer-Address, on requests carrying the distribution's
    # origin token (a request sent straight to API Gateway cannot claim another address).
    front_door: bool = False
    edge_token: str | None = None
    admin_rate_limit_per_minute: int = 60
    # GET /metrics is open unless a token is configured (directly or as a Secrets Manager ARN).
    metrics_token: str | None = None
    metrics_token_secret_arn: str | None = None
    # Self-hosted plan limits as a JSON object of PlanLimits fields; absent fields are unlimited.
    limits_json: str = ""
    # Public base URL of the deployment (webhook URLs shown to users).
    external_url: str = "https://api.spooled.cloud"
    # --- timers and Lambda workers (docs/timers.md) ---
    lambda_worker_queue_url: str = ""
    # --- schedules, outgoing webhooks, live updates ---
    schedule_queue_url: str = ""
    schedule_queue_arn: str = ""
    schedule_group: str = schema.SCHEDULE_GROUP_LOCAL_NAME
    schedule_role_arn: str = ""
    webhook_queue_url: str = ""
    ws_callback_url: str = ""


@lru_cache(maxsize=1)
def settings() -> Settings:
    env = os.environ
    return Settings(
        table_name=env.get(schema.JOBS_TABLE.env_var, schema.JOBS_TABLE.local_name),
        payload_bucket=env.get(schema.PAYLOAD_BUCKET.env_var, schema.PAYLOAD_BUCKET.local_name),
        dispatch_queue_url=env.get(schema.DISPATCH_QUEUE.env_var, ""),
        environment=env.get("SPOOLED_ENV", "development"),
        # One ready shard per queue keeps exact priority order with one index read per claim; a hot
        # queue raises its own (settings.ready_shards): docs/architecture.md, "Scale".
        ready_shards=int(env.get("SPOOLED_READY_SHARDS", "1")),
        # Each shard is a table partition of 1,000 writes/s holding its jobs' items (~3 writes a
        # job: create, claim, complete), so 8 let one organization run ~2,600 jobs/s, and a list
        # page reads 8 of them. Raise it (never lower it: a job's shard is in its id, and listings
        # read shards 0..n-1 only) for more; docs/architecture.md, "Scale".
        job_shards=_job_shards(env.get("SPOOLED_JOB_SHARDS", "8")),
        default_max_retries=int(env.get("QUEUE_DEFAULT_MAX_RETRIES", "3")),
        default_timeout_seconds=int(env.get("QUEUE_DEFAULT_TIMEOUT_SECS", "300")),
        inline_payload_limit=int(env.get("SPOOLED_INLINE_PAYLOAD_LIMIT", str(300 * 1024))),
        max_payload_bytes=int(env.get("SPOOLED_MAX_PAYLOAD_BYTES", str(1024 * 1024))),
        admin_key=env.get("SPOOLED_ADMIN_KEY") or None,
        admin_key_secret_arn=env.get("SPOOLED_ADMIN_KEY_SECRET_ARN") or None,
        registration_mode=(env.get("REGISTRATION_MODE") or "open").strip().lower(),
        jwt_secret=env.get("SPOOLED_JWT_SECRET") or None,
        jwt_secret_arn=env.get("SPOOLED_JWT_SECRET_ARN") or None,
        jwt_expiration_hours=int(env.get("JWT_EXPIRATION_HOURS") or "1"),
        org_rate_limit_per_minute=_limit(
            env.get("SPOOLED_ORG_RATE_LIMIT_PER_MINUTE"), DEFAULT_ORG_RATE_LIMIT_PER_MINUTE
        ),
        ip_rate_limit_per_minute=_limit(
            env.get("SPOOLED_IP_RATE_LIMIT_PER_MINUTE"), DEFAULT_IP_RATE_LIMIT_PER_MINUTE
        ),
        front_door=(env.get("SPOOLED_FRONT_DOOR") or "").strip().lower() in ("1", "true", "yes"),
        edge_token=env.get("SPOOLED_EDGE_TOKEN") or None,
        admin_rate_limit_per_minute=int(env.get("SPOOLED_ADMIN_RATE_LIMIT_PER_MINUTE") or "60"),
        metrics_token=env.get("METRICS_TOKEN") or None,
        metrics_token_secret_arn=env.get("SPOOLED_METRICS_TOKEN_SECRET_ARN") or None,
        limits_json=env.get("SPOOLED_LIMITS") or "",
        external_url=(env.get("EXTERNAL_URL") or "https://api.spooled.cloud").rstrip("/"),
        lambda_worker_queue_url=env.get(schema.LAMBDA_WORKER_QUEUE.env_var, ""),
        schedule_queue_url=env.get(schema.SCHEDULE_FIRE_QUEUE.env_var, ""),
        schedule_queue_arn=env.get(schema.SCHEDULE_QUEUE_ARN_ENV, ""),
        schedule_group=env.get(schema.SCHEDULE_GROUP_ENV) or schema.SCHEDULE_GROUP_LOCAL_NAME,
        schedule_role_arn=env.get(schema.SCHEDULE_ROLE_ARN_ENV, ""),
        webhook_queue_url=env.get(schema.WEBHOOK_DELIVERY_QUEUE.env_var, ""),
        ws_callback_url=(env.get(schema.WS_CALLBACK_URL_ENV) or "").rstrip("/"),
    )


def _job_shards(value: str) -> int:
    # The shard is one byte of the job id (shared/jobs/expressions/keys.py, new_job_id).
    shards = int(value)
    if not 1 <= shards <= 256:
        raise ValueError(f"SPOOLED_JOB_SHARDS must be 1-256, not {shards}")
    return shards


def _limit(value: str | None, default: int) -> int | None:
    """A per-minute limit from the environment: unset → the default, 0 → off."""
    if value is None or not value.strip():
        return default
    number = int(value)
    return number if number > 0 else None
