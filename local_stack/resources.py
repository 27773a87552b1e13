"""Create the tables, queues and buckets of shared/plumbing/schema.py in an (embedded moto) AWS endpoint.

The CDK stack builds the same resources from the same definitions; tests/cdk compares the two.
"""

from __future__ import annotations

import json
from typing import Any

from shared.plumbing import schema


def table_create_args(table: schema.TableDefinition) -> dict[str, Any]:
    """The CreateTable arguments for one table definition (on-demand, like the CDK stack)."""
    attributes: dict[str, str] = {}
    for key in (table.partition_key, table.sort_key):
        attributes[key.name] = key.type
    indexes = []
    for index in table.indexes:
        attributes[index.partition_key.name] = index.partition_key.type
        attributes[index.sort_key.name] = index.sort_key.type
        projection: dict[str, Any] = {"ProjectionType": index.projection}
        if index.non_key_attributes:
            projection["NonKeyAttributes"] = list(index.non_key_attributes)
        indexes.append(
            {
                "IndexName": index.name,
                "KeySchema": [
                    {"AttributeName": index.partition_key.name, "KeyType": "HASH"},
                    {"AttributeName": index.sort_key.name, "KeyType": "RANGE"},
                ],
                "Projection": projection,
            }
        )
    args: dict[str, Any] = {
        "TableName": table.local_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t in attributes.items()],
        "KeySchema": [
            {"AttributeName": table.partition_key.name, "KeyType": "HASH"},
            {"AttributeName": table.sort_key.name, "KeyType": "RANGE"},
        ],
    }
    if indexes:
        args["GlobalSecondaryIndexes"] = indexes
    if table.stream_view:
        args["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": table.stream_view}
    return args


def create_all(session: Any) -> dict[str, str]:
    """Create every resource through `session` (a boto3 Session); return the functions' environment."""
    env: dict[str, str] = {}
    dynamodb = session.client("dynamodb")
    for table in schema.TABLES:
        dynamodb.create_table(**table_create_args(table))
        if table.ttl_attribute:
            dynamodb.update_time_to_live(
                TableName=table.local_name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
            )
        env[table.env_var] = table.local_name

    sqs = session.client("sqs")
    for queue in schema.QUEUES:
        dead_letter_url = sqs.create_queue(QueueName=queue.dead_letter_local_name)["QueueUrl"]
        dead_letter_arn = sqs.get_queue_attributes(QueueUrl=dead_letter_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        url = sqs.create_queue(
            QueueName=queue.local_name,
            Attributes={
                "VisibilityTimeout": str(queue.visibility_timeout_seconds),
                "MessageRetentionPeriod": str(queue.retention_days * 86400),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": queue.max_receive_count}
                ),
            },
        )["QueueUrl"]
        env[queue.env_var] = url
        if queue is schema.SCHEDULE_FIRE_QUEUE:  # EventBridge Scheduler targets the queue by ARN
            env[schema.SCHEDULE_QUEUE_ARN_ENV] = sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["QueueArn"]
            )["Attributes"]["QueueArn"]

    # The stream reader's on-failure destination (local_stack/stream_poller.py finds it by name).
    sqs.create_queue(
        QueueName=schema.STREAM_FAILURE_QUEUE.local_name,
        Attributes={"MessageRetentionPeriod": str(schema.STREAM_FAILURE_QUEUE.retention_days * 86400)},
    )

    # The group the far cron fires are armed in (local_stack/scheduler_loop.py plays EventBridge
    # Scheduler and fires them); moto does not check the role, but the calls carry one as on AWS.
    session.client("scheduler").create_schedule_group(Name=schema.SCHEDULE_GROUP_LOCAL_NAME)
    env[schema.SCHEDULE_GROUP_ENV] = schema.SCHEDULE_GROUP_LOCAL_NAME
    env[schema.SCHEDULE_ROLE_ARN_ENV] = "arn:aws:iam::123456789012:role/spooled-local-schedule-sender"

    s3 = session.client("s3")
    for bucket in schema.BUCKETS:
        s3.create_bucket(Bucket=bucket.local_name)
        env[bucket.env_var] = bucket.local_name
    return env
