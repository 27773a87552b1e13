"""Workers: registration and heartbeats, the directory the API reads, offline-worker recovery and
Lambda workers (jobs pushed to a function).
Part of the jobs domain; its keys and expressions are in shared/jobs/expressions/workers.py and timers.py.
"""
