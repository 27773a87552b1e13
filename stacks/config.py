"""Deployment settings read from CDK context (cdk.json, or `-c key=value` on the command line).

Context rather than CloudFormation parameters where the value shapes the template itself: a
DeletionPolicy cannot reference a parameter, and log retention is an enum. Values that may change
at deploy time without a new synth (API throttling) are CfnParameters, see stacks/api.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from re import fullmatch as re_fullmatch
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from constructs import Node

_RETENTION_DAYS = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_REGISTRATION_MODES = ("open", "closed", "invite")


def _as_bool(name: str, value: Any) -> bool:
    # `-c retain=false` arrives as the string "false", cdk.json gives a JSON boolean.
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ValueError(f"context {name!r} must be true or false, got {value!r}")


@dataclass(frozen=True)
class StackConfig:
    # Keep data when the stack is deleted or a resource replaced: tables, bucket and secret get
    # RemovalPolicy.RETAIN and the tables deletion protection. `-c retain=false` for throwaway stacks.
    retain: bool = True
    log_retention_days: int = 30
    log_level: str = "INFO"
    # Who may POST /api/v1/organizations. "closed" (only with X-Admin-Key) by default: an open
    # deployment would let anyone who finds the URL create tenants in your AWS account.
    registration_mode: str = "closed"
    # Lambda workers (docs/timers.md): the invoker may call only functions whose name starts with
    # this, so a queue setting cannot make it invoke any other function of the account.
    lambda_worker_prefix: str = "spooled-worker-"
    # A CloudFront distribution in front of both APIs, so one base URL serves REST and the SDK's
    # derived WebSocket URL (stacks/front_door.py). Off: clients use the APIs' own hosts.
    front_door: bool = True
    # Let this stack own API Gateway's account-wide CloudWatch role setting, which WebSocket stage
    # logs need (stacks/apigateway_logging.py). Off by default: the setting is one per account and
    # region, so owning it would replace a role a landing zone set and make two stacks fight over
    # it; docs/deploy.md gives the one-time setup instead.
    apigateway_cloudwatch_role: bool = False
    # An AWS WAF web ACL on the distribution with one rate-based rule: requests per 5 minutes one
    # client address may send before WAF blocks it at the edge, ahead of the stage throttle.
    # 0 = no web ACL (it costs ~$6/month even idle). Needs the front door, and a stack in us-east-1
    # (a CloudFront web ACL lives there).
    waf_rate_limit: int = 0
    # `-c alarm_email=ops@example.com`: an encrypted SNS topic with this e-mail subscription, and
    # every alarm notifies it (stacks/monitoring.py). Unset: no topic, alarms without actions.
    alarm_email: str | None = None
    # `-c metrics_per_queue=true`: the job metrics also get a per-queue series (one custom metric
    # per queue and metric; docs/operations.md gives the cost). Off: one series per metric.
    metrics_per_queue: bool = False

    @classmethod
    def from_context(cls, node: Node) -> StackConfig:
        defaults = cls()
        retain = node.try_get_context("retain")
        days = node.try_get_context("log_retention_days")
        level = node.try_get_context("log_level")
        registration = node.try_get_context("registration_mode")
        prefix = node.try_get_context("lambda_worker_prefix")
        front_door = node.try_get_context("front_door")
        logging_role = node.try_get_context("apigateway_cloudwatch_role")
        waf_rate_limit = node.try_get_context("waf_rate_limit")
        alarm_email = node.try_get_context("alarm_email")
        per_queue = node.try_get_context("metrics_per_queue")
        config = cls(
            retain=defaults.retain if retain is None else _as_bool("retain", retain),
            log_retention_days=defaults.log_retention_days if days is None else int(days),
            log_level=defaults.log_level if level is None else str(level).upper(),
            registration_mode=(
                defaults.registration_mode if registration is None else str(registration).lower()
            ),
            lambda_worker_prefix=defaults.lambda_worker_prefix if prefix is None else str(prefix),
            front_door=defaults.front_door if front_door is None else _as_bool("front_door", front_door),
            apigateway_cloudwatch_role=(
                defaults.apigateway_cloudwatch_role
                if logging_role is None
                else _as_bool("apigateway_cloudwatch_role", logging_role)
            ),
            waf_rate_limit=defaults.waf_rate_limit if waf_rate_limit is None else int(waf_rate_limit),
            alarm_email=str(alarm_email).strip() if alarm_email else None,
            metrics_per_queue=(
                defaults.metrics_per_queue if per_queue is None else _as_bool("metrics_per_queue", per_queue)
            ),
        )
        if config.log_retention_days not in _RETENTION_DAYS:
            raise ValueError(f"context 'log_retention_days' must be one of {sorted(_RETENTION_DAYS)}")
        if config.log_level not in _LOG_LEVELS:
            raise ValueError(f"context 'log_level' must be one of {_LOG_LEVELS}")
        if not re_fullmatch(r"[A-Za-z0-9_-]{3,50}", config.lambda_worker_prefix):
            raise ValueError("context 'lambda_worker_prefix' must be 3-50 of [A-Za-z0-9_-]")
        if config.waf_rate_limit and not 10 <= config.waf_rate_limit <= 2_000_000_000:
            raise ValueError("context 'waf_rate_limit' must be 0 (off) or 10..2000000000 (per 5 min)")
        if config.waf_rate_limit and not config.front_door:
            raise ValueError(
                "context 'waf_rate_limit' needs the front door: WAF cannot attach to an HTTP API"
            )
        email = config.alarm_email
        if email is not None and not re_fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            raise ValueError("context 'alarm_email' must be an e-mail address")
        if config.registration_mode not in _REGISTRATION_MODES:
            raise ValueError(f"context 'registration_mode' must be one of {_REGISTRATION_MODES}")
        return config

    @property
    def data_removal_policy(self) -> cdk.RemovalPolicy:
        return cdk.RemovalPolicy.RETAIN if self.retain else cdk.RemovalPolicy.DESTROY

    @property
    def log_level_name(self) -> str:
        """The log level as Lambda's ApplicationLogLevel names it (WARNING is WARN there)."""
        return "WARN" if self.log_level == "WARNING" else self.log_level

    @property
    def log_retention(self) -> logs.RetentionDays:
        return _RETENTION_DAYS[self.log_retention_days]
