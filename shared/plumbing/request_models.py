"""Request bodies validated with pydantic, and the translation of its errors into the contract's.

Validation is strict (a string is not an integer) and the errors are translated into the contract's
two kinds: a body that is not the expected document (missing field, wrong type, not JSON) is 422;
a value that breaks a field rule (range, length, pattern) is 400. Every domain's request models
derive from RequestBody and share the field types named here.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.plumbing.errors import UnprocessableBody, ValidationFailed

QUEUE_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}$"


HOSTNAME_PATTERN = r"^[A-Za-z0-9_](?:[A-Za-z0-9_.\-]{0,253}[A-Za-z0-9_])?$"


WORKER_ID_PATTERN = r"^[A-Za-z0-9._\-]{1,128}$"


QueueName = Annotated[str, Field(min_length=1, max_length=100, pattern=QUEUE_NAME_PATTERN)]


Priority = Annotated[int, Field(ge=-100, le=100)]


MaxRetries = Annotated[int, Field(ge=0, le=100)]


TimeoutSeconds = Annotated[int, Field(ge=1, le=86400)]


# pydantic error types that mean "not the document we expected" rather than "a rule was broken"
_SHAPE_ERRORS = {
    "missing": "missing_field",
    "model_type": "invalid_type",
    "model_attributes_type": "invalid_type",
    "dict_type": "invalid_type",
    "list_type": "invalid_type",
    "int_type": "invalid_type",
    "int_from_float": "invalid_type",
    "string_type": "invalid_type",
    "bool_type": "invalid_type",
    "float_type": "invalid_type",
    "datetime_type": "invalid_type",
    "json_invalid": "invalid_json",
    "json_type": "invalid_json",
}


class RequestBody(BaseModel):
    # Strict: "5" is not a priority. Unknown keys are ignored, as the reference does.
    # defer_build: a model's validator is built on its first use, not at import, so a cold start
    # pays only for the request bodies it actually parses.
    model_config = ConfigDict(strict=True, extra="ignore", defer_build=True)


Model = TypeVar("Model", bound=BaseModel)


def parse_body(model: type[Model], body: bytes | None, *, optional: bool = False) -> Model:
    """Parse a request body into `model`, raising the contract's 400/422 errors."""
    if not body or not body.strip():
        if optional:
            return model.model_validate({})
        raise UnprocessableBody(
            details=[{"field": "body", "message": "Request body is empty", "code": "empty_body"}]
        )
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        raise _translate(error) from None


def _translate(error: ValidationError) -> Exception:
    details = []
    shape_problem = False
    for problem in error.errors(include_url=False, include_context=False, include_input=False):
        field = ".".join(str(part) for part in problem["loc"]) or "body"
        code = _SHAPE_ERRORS.get(problem["type"])
        if code:
            shape_problem = True
        details.append({"field": field, "message": problem["msg"], "code": code or problem["type"]})
    if shape_problem:
        return UnprocessableBody(details=details)
    return ValidationFailed(details=details, error="Validation failed")


def json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
