"""The AWS CDK app of Spooled: one stack built from shared/schema.py (see docs/deploy.md)."""
