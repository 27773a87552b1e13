"""Outgoing webhooks: configuration, the events and envelopes, signing, delivery with retries and
auto-disable, and the fan-out from the table's stream.
Part of shared.webhooks; its keys and expressions are in outgoing/expressions.py.
"""
