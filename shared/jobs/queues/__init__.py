"""Queues: configuration (pause, resume, defaults), settings cached per container, and the per-queue
status counters and activity buckets kept from the table's stream.
Part of the jobs domain; its keys and expressions are in shared/jobs/expressions/queues.py.
"""
