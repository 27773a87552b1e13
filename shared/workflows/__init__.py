"""Workflows: DAG creation in one transaction, the workflow service (reads, cancel, retry, status),
its progress policy and what the table's stream means for workflows.
May import shared.jobs, shared.identity and shared.plumbing; not the other feature packages.
"""
