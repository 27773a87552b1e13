"""Live updates: WebSocket connections per organization with filters, the realtime frames made from
change events, and the fan-out that posts them.
May import shared.jobs, shared.identity and shared.plumbing; not the other feature packages.
"""
