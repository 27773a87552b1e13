"""Cron schedules: the grammar and next-fire policy, the schedule store and service, fires (one job
per fire) and arming (SQS within 15 minutes, EventBridge Scheduler beyond).
May import shared.jobs, shared.identity and shared.plumbing; not the other feature packages.
"""
