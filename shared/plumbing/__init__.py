"""Plumbing: the table schema, AWS clients and errors, the clock, configuration, the error hierarchy,
the codec, payload offload, shared table keys, request-body parsing, SQS timer messages, SSRF rules.
Imports nothing else from shared; every domain package builds on it.
"""
