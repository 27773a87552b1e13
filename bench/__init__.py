"""`make bench`: cost, contention, cold-start and throughput figures of the service (docs/benchmarks.md)."""
