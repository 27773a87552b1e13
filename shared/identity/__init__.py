"""Who is calling: credentials and authentication, API keys, JWT sessions, organizations (creation),
rate and plan limits, slugs and deployment secrets, with their keys and expressions.
May import shared.plumbing only.
"""
