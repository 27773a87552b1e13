"""checkov's findings that stay, each with why and what fixing it would cost a month, in one place.

`make test` runs checkov (a second scanner beside cdk-nag, see ../shared/TOOLCHAIN.md) on the
synthesized template and fails on any finding not acknowledged here. An acknowledgment becomes a
`checkov: skip` entry in the Metadata of each resource it covers, with the reason and the cost in
its comment, so the template itself says why. tests/cdk/test_checkov.py holds the reviewed list:
a new acknowledgment needs a line there too.

Costs are us-east-1 list prices per month (late 2026) for the cheapest fix, on top of the idle
cost docs/deploy.md states; "KMS key" means one customer-managed key ($1/month) shared by every
resource of the finding, plus $0.03 per 10,000 requests.
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
import jsii
from constructs import IConstruct


@dataclass(frozen=True)
class Acknowledgment:
    check: str
    resource_type: str
    reason: str
    monthly_cost: str  # what the fix would add per month
    # Construct paths (substrings) the finding does not apply to: those resources pass the check.
    except_paths: tuple[str, ...] = ()

    @property
    def comment(self) -> str:
        return f"{self.reason} Fixing it would cost: {self.monthly_cost}."


KMS_KEY = "$1 for a customer-managed KMS key plus $0.03 per 10,000 requests"
ACKNOWLEDGMENTS: tuple[Acknowledgment, ...] = (
    Acknowledgment(
        "CKV_AWS_115",
        "AWS::Lambda::Function",
        "Reserved concurrency is subtracted from the account's pool, and a new account's Lambda quota "
        "can be 10, below which Lambda refuses any reservation: a reservation per function would fail "
        "the first deploy there. Only the API function has one, as a parameter (ApiReservedConcurrency, "
        "docs/deploy.md); the queue consumers are bounded by their event source mappings instead.",
        "$0, but a failed deploy in accounts with the default low quota",
        except_paths=("/Api/Function/",),
    ),
    Acknowledgment(
        "CKV_AWS_116",
        "AWS::Lambda::Function",
        "A function's dead-letter queue only receives failed asynchronous invocations. These functions "
        "are invoked synchronously (API Gateway, SQS and stream event source mappings, whose failures "
        "go to each queue's redrive dead-letter queue and the stream-failure queue); the one "
        "asynchronous caller, the minute sweep, is not retried and its failures raise the "
        'DispatcherErrors alarm, and a dead-lettered {"sweep": true} event would tell nothing.',
        "$0 (an empty queue) plus $0.10 for its alarm, for messages nobody could act on",
    ),
    Acknowledgment(
        "CKV_AWS_117",
        "AWS::Lambda::Function",
        "The functions reach only AWS APIs over TLS with IAM authentication, and the webhooks function "
        "must reach the internet; inside a VPC they would need a NAT gateway (or interface endpoints "
        "for SQS, Secrets Manager, Scheduler and Lambda), which ends the stack's near-zero idle cost.",
        "about $33 per NAT gateway and AZ plus $0.045/GB, or about $7.30 per interface endpoint and AZ",
    ),
    Acknowledgment(
        "CKV_AWS_119",
        "AWS::DynamoDB::Table",
        "The table is encrypted at rest with the AWS-managed KMS key (SSEEnabled); a customer-managed "
        "key adds control over the key policy and its rotation, not encryption.",
        KMS_KEY,
    ),
    Acknowledgment(
        "CKV_AWS_149",
        "AWS::SecretsManager::Secret",
        "The secrets are encrypted with Secrets Manager's AWS-managed key; only the roles of the "
        "functions that use a secret may read it (GetSecretValue on that secret alone).",
        KMS_KEY,
    ),
    Acknowledgment(
        "CKV_AWS_158",
        "AWS::Logs::LogGroup",
        "CloudWatch Logs encrypts every log group at rest with its own keys; the logs hold no "
        "credentials (access logs leave out headers and query strings). A customer-managed key also "
        "needs a key policy for the logs service of the region.",
        KMS_KEY,
    ),
    Acknowledgment(
        "CKV_AWS_173",
        "AWS::Lambda::Function",
        "Lambda encrypts environment variables at rest with an AWS-managed key; these hold resource "
        "names, URLs and secret ARNs, never a secret value (those are read from Secrets Manager).",
        KMS_KEY,
    ),
    Acknowledgment(
        "CKV_AWS_174",
        "AWS::CloudFront::Distribution",
        "The distribution uses its *.cloudfront.net certificate, for which CloudFront fixes the viewer "
        "TLS policy itself; a TLS 1.2 minimum needs a custom domain with an ACM certificate "
        "(docs/deploy.md). Origins are reached over TLS 1.2 only.",
        "$0.50 for a Route 53 hosted zone plus the domain (the ACM certificate is free)",
    ),
    Acknowledgment(
        "CKV_AWS_18",
        "AWS::S3::Bucket",
        "Server access logs need a second bucket and would log every payload read and write; the "
        "bucket is private and TLS-only (cdk-nag AwsSolutions-S1 gives the same reason), and "
        "CloudTrail S3 data events give an object-level audit when one is required.",
        "$0.023/GB of log storage, or $0.10 per 100,000 CloudTrail data events",
    ),
    Acknowledgment(
        "CKV_AWS_21",
        "AWS::S3::Bucket",
        "Payload objects are written once and deleted on purpose (a cancelled create, a queue or "
        "organization purge): versioning would keep every deleted payload, which is what a purge "
        "means to remove, and would make emptying the bucket before teardown a per-version job. "
        "Point-in-time recovery covers the table that points at them.",
        "$0.023/GB-month of deleted payloads kept",
    ),
    Acknowledgment(
        "CKV_AWS_27",
        "AWS::SQS::Queue",
        "Every queue is encrypted at rest with SQS-managed keys (SqsManagedSseEnabled: true); this "
        "check only accepts a KMS key (KmsMasterKeyId), which encrypts nothing more and makes every "
        "producer, including EventBridge Scheduler's sender role and Lambda's on-failure "
        "destination, need KMS permissions.",
        KMS_KEY + " (alias/aws/sqs: no key fee, the same request fees)",
    ),
    Acknowledgment(
        "CKV_AWS_68",
        "AWS::CloudFront::Distribution",
        "AWS WAF costs money even idle; both APIs behind the distribution throttle per stage and "
        "authenticate every call (cdk-nag AwsSolutions-CFR2). docs/deploy.md shows how to attach a web "
        "ACL, and why the HTTP API's own endpoint then needs closing too.",
        "$5 per web ACL plus $1 per rule plus $0.60 per million requests",
    ),
    Acknowledgment(
        "CKV_AWS_86",
        "AWS::CloudFront::Distribution",
        "CloudFront access logs would record the full query string of every WebSocket handshake, "
        "which carries the client's API key or JWT (?token=); both API Gateway stages already log "
        "every request without query strings (cdk-nag AwsSolutions-CFR3).",
        "$0.023/GB of log storage, and an S3 bucket holding credentials",
    ),
)


@jsii.implements(cdk.IAspect)
class CheckovAcknowledgments:
    """Writes each acknowledgment into the Metadata of the resources it covers."""

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, cdk.CfnResource):
            return
        path = "/" + node.node.path + "/"
        skips = [
            {"id": a.check, "comment": a.comment}
            for a in ACKNOWLEDGMENTS
            if a.resource_type == node.cfn_resource_type and not any(p in path for p in a.except_paths)
        ]
        if skips:
            node.add_metadata("checkov", {"skip": skips})
