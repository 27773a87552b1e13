"""The OpenAPI document of the REST API, generated at build time (docs/openapi.md)."""
