"""Offline validation of Azure ML YAML, in layers, one module each.

runner (files and folders in, a Report out; render's guard), findings (the result type and the one
way to make, cap and print findings), assets (kinds + layer 1 YAML hygiene on the shared reader
`generator.yamlio`), sdk (layer 2), component (layers 3-4), rules (layer 5), cross (layer 6),
online (layer 7).
"""

from .findings import Finding, Report, format_json, format_report, format_text
from .runner import check_set, validate_paths, validate_rendered

__all__ = [
    "Finding",
    "Report",
    "check_set",
    "format_json",
    "format_report",
    "format_text",
    "validate_paths",
    "validate_rendered",
]
