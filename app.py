#!/usr/bin/env python3
"""CDK entry point (cdk.json runs it): synthesizes the Spooled stack with the cdk-nag checks."""

from stacks.application import build_app

if __name__ == "__main__":
    app, _ = build_app()
    app.synth()
