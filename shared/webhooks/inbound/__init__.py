"""Inbound webhooks: provider signatures (GitHub, Stripe, custom token) checked over the raw body, and
ingest that turns a verified delivery into a job, idempotent on the delivery id, with its log.
Part of shared.webhooks; its keys and expressions are in inbound/expressions.py.
"""
