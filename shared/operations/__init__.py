"""Operations: the operator's admin API, the organization lifecycle (which purges every domain's
data), usage, the dashboard overview and Prometheus metrics.
The top layer: may import every other package; nothing in shared imports it.
"""
