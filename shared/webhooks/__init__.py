"""Webhooks: inbound (GitHub, Stripe and custom signatures and ingest, in webhooks/inbound/) and
outgoing (configuration, signed deliveries, fan-out from the stream, SSRF guard, in webhooks/outgoing/).
May import shared.jobs, shared.identity and shared.plumbing; not the other feature packages.
"""
