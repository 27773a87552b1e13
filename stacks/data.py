"""The stateful resources (tables, queues, buckets), each built from its shared/plumbing/schema.py definition.

Nothing here restates a key, index or queue setting: a change to shared/plumbing/schema.py reaches the
deployed stack, the local stack and the store code together (tests/cdk/test_drift.py checks it).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from shared.plumbing import schema
from stacks.config import StackConfig
from stacks.nag import acknowledge

_ATTRIBUTE_TYPES = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}
# SQS's maximum. A message keeps its original enqueue time when it is dead-lettered, so a
# dead-letter queue retaining less than its source would drop old failures on arrival.
DEAD_LETTER_RETENTION = cdk.Duration.days(14)


def _attribute(key: schema.KeyAttribute) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=key.name, type=_ATTRIBUTE_TYPES[key.type])


def _pin_logical_id(construct: Construct, logical_id: str) -> None:
    # The schema's logical id becomes the CloudFormation logical id, so refactoring the construct
    # tree can never rename (and thereby replace, i.e. empty) a table, queue or bucket.
    child = construct.node.default_child
    if not isinstance(child, cdk.CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to pin")
    child.override_logical_id(logical_id)


class DataStores(Construct):
    """Every table, queue and bucket of shared/plumbing/schema.py, looked up by the schema definition."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id)
        self.tables = {d.logical_id: self._table(d, config) for d in schema.TABLES}
        self.dead_letter_queues: dict[str, sqs.Queue] = {}
        self.queues = {d.logical_id: self._queue(d) for d in schema.QUEUES}
        self.buckets = {d.logical_id: self._bucket(d, config) for d in schema.BUCKETS}

    def table(self, definition: schema.TableDefinition) -> dynamodb.Table:
        return self.tables[definition.logical_id]

    def queue(self, definition: schema.QueueDefinition) -> sqs.Queue:
        return self.queues[definition.logical_id]

    def dead_letter_queue(self, definition: schema.QueueDefinition) -> sqs.Queue:
        return self.dead_letter_queues[definition.logical_id]

    def bucket(self, definition: schema.BucketDefinition) -> s3.Bucket:
        return self.buckets[definition.logical_id]

    def environment(self) -> dict[str, str]:
        """The variables through which the functions find every resource (names and URLs)."""
        env: dict[str, str] = {}
        for table in schema.TABLES:
            env[table.env_var] = self.table(table).table_name
        for queue in schema.QUEUES:
            env[queue.env_var] = self.queue(queue).queue_url
        for bucket in schema.BUCKETS:
            env[bucket.env_var] = self.bucket(bucket).bucket_name
        return env

    def _table(self, definition: schema.TableDefinition, config: StackConfig) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            definition.logical_id,
            partition_key=_attribute(definition.partition_key),
            sort_key=_attribute(definition.sort_key),
            # On-demand: nothing to pay while idle, nothing to size before launch.
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            stream=dynamodb.StreamViewType[definition.stream_view] if definition.stream_view else None,
            time_to_live_attribute=definition.ttl_attribute,
            deletion_protection=config.retain,
            removal_policy=config.data_removal_policy,
        )
        for index in definition.indexes:
            table.add_global_secondary_index(
                index_name=index.name,
                partition_key=_attribute(index.partition_key),
                sort_key=_attribute(index.sort_key),
                projection_type=dynamodb.ProjectionType[index.projection],
                non_key_attributes=list(index.non_key_attributes) or None,
            )
        _pin_logical_id(table, definition.logical_id)
        return table

    def _queue(self, definition: schema.QueueDefinition) -> sqs.Queue:
        dead_letter = sqs.Queue(
            self,
            definition.dead_letter_logical_id,
            retention_period=DEAD_LETTER_RETENTION,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        _pin_logical_id(dead_letter, definition.dead_letter_logical_id)
        self.dead_letter_queues[definition.logical_id] = dead_letter
        queue = sqs.Queue(
            self,
            definition.logical_id,
            visibility_timeout=cdk.Duration.seconds(definition.visibility_timeout_seconds),
            retention_period=cdk.Duration.days(definition.retention_days),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=dead_letter, max_receive_count=definition.max_receive_count
            ),
        )
        _pin_logical_id(queue, definition.logical_id)
        return queue

    def _bucket(self, definition: schema.BucketDefinition, config: StackConfig) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            definition.logical_id,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            lifecycle_rules=[
                # put_object never starts a multipart upload, but a part left by any other writer
                # would be billed forever and is invisible in listings.
                s3.LifecycleRule(
                    id="AbortIncompleteUploads",
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(
                        definition.abort_incomplete_upload_days
                    ),
                ),
                # Orphans: objects whose job or result item was never written keep the tag they
                # were written with (shared/plumbing/payload_store.py). Live objects are re-tagged
                # at once and never expire by age: jobs have no TTL, and a completed job's result
                # stays readable until the job is deleted. (A separate rule: S3 refuses the
                # multipart abort in a rule that filters on tags.)
                s3.LifecycleRule(
                    id="ExpireUncommittedObjects",
                    tag_filters=dict([definition.uncommitted_tag]),
                    expiration=cdk.Duration.days(definition.orphan_expiry_days),
                ),
            ],
            # No auto_delete_objects: it needs a custom-resource Lambda with broad S3 rights.
            # Tearing down a non-retained stack means emptying the bucket first (docs/deploy.md).
            removal_policy=config.data_removal_policy,
        )
        _pin_logical_id(bucket, definition.logical_id)
        acknowledge(
            bucket,
            "AwsSolutions-S1",
            "Server access logs would need a second bucket and log every payload read and write "
            "of every job. This bucket is private (public access blocked, bucket-owner-enforced, "
            "TLS 1.2+ only, no bucket policy grants) and only the roles of the functions that "
            "create or settle jobs can touch objects, under payloads/ only; CloudTrail S3 data "
            "events give an object-level audit trail when one is required, without a log bucket.",
        )
        return bucket
