"""Jobs: the job state machine, the DynamoDB store (create, claim, worker protocol, timed transitions),
the job service, dependencies, queues (config, settings, counters, activity) and workers.
May import shared.identity and shared.plumbing; every key and expression is in jobs/expressions/.
"""
