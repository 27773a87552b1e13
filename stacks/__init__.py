"""The AWS CDK app of Spooled: one stack built from shared/plumbing/schema.py (see docs/deploy.md)."""
