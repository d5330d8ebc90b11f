"""The parameters file: one source of truth per environment.

`model` is the typed model (sections, bounds, the fine-tune inputs from the component's
interface, the JSON schema); `fields` the bounded field types its sections are made of; `load`
reads base + overlay + `--set` into a checked `Resolved` with file and line in every error.
"""

from __future__ import annotations

from .load import (
    Resolved,
    data_fingerprint,
    environments,
    files_fingerprint,
    load_params,
    sanitize_model_name,
)
from .model import (
    BASE_FILE,
    COMPONENT_NAME,
    PARAMS_DIR,
    SCHEMA_FILE,
    Params,
    json_schema,
    schema_text,
)

__all__ = [
    "BASE_FILE",
    "COMPONENT_NAME",
    "PARAMS_DIR",
    "SCHEMA_FILE",
    "Params",
    "Resolved",
    "data_fingerprint",
    "environments",
    "files_fingerprint",
    "json_schema",
    "load_params",
    "sanitize_model_name",
    "schema_text",
]
