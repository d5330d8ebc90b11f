"""`amlgen validate` on public CLI v2 YAML nobody here wrote (tests/validate_cases/public/).

Every file was judged by hand (manifest.yaml: repository, path, commit, verdict, why). A clean
file must get no error; a bad one at least one, with the code the manifest expects among them.
The whole corpus is validated in one call, as `amlgen validate DIR ...` would.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.validation import validate_paths
from generator.validation.findings import Finding

PUBLIC = Path(__file__).resolve().parent / "validate_cases" / "public"
FILES = PUBLIC / "files"


def _manifest() -> list[dict[str, Any]]:
    entries = yaml.safe_load((PUBLIC / "manifest.yaml").read_text(encoding="utf-8"))["files"]
    assert isinstance(entries, list)
    return entries


def _name(entry: dict[str, Any]) -> str:
    return f"{entry['repo'].replace('/', '+')}/{entry['path']}"


def _errors(sdk: bool) -> dict[str, list[Finding]]:
    entries = _manifest()
    report = validate_paths([FILES / _name(e) for e in entries], project_dir=FILES, sdk=sdk)
    assert sorted(report.files) == sorted(_name(e) for e in entries)
    errors: dict[str, list[Finding]] = defaultdict(list)
    for f in report.errors:
        errors[f.file].append(f)
    return errors


def test_the_manifest_is_a_hand_judged_corpus_of_at_least_150_files_from_3_repos() -> None:
    entries = _manifest()
    assert len(entries) >= 150
    repos = {e["repo"] for e in entries}
    assert len(repos - {"Azure/azureml-examples"}) >= 3
    assert not [
        e for e in entries if e["repo"] == "Azure/azureml-examples" and e["path"].startswith("cli/")
    ]
    for e in entries:
        assert set(e) <= {"repo", "commit", "path", "verdict", "code", "why"}, e
        assert len(e["commit"]) == 40 and e["verdict"] in ("clean", "bad") and e["why"], e
        assert ("code" in e) == (e["verdict"] == "bad"), e
        assert (FILES / _name(e)).is_file(), _name(e)
    assert len({_name(e) for e in entries}) == len(entries)
    notice = (PUBLIC / "NOTICE").read_text(encoding="utf-8")
    assert all(repo in notice for repo in repos) and "MIT License" in notice


def _check(errors: dict[str, list[Finding]], entries: list[dict[str, Any]]) -> None:
    false_errors = {
        _name(e): [f.text() for f in errors[_name(e)]]
        for e in entries
        if e["verdict"] == "clean" and errors[_name(e)]
    }
    assert not false_errors, false_errors
    missed = {
        _name(e): (e["code"], sorted({f.code for f in errors[_name(e)]}))
        for e in entries
        if e["verdict"] == "bad" and e["code"] not in {f.code for f in errors[_name(e)]}
    }
    assert not missed, missed


@pytest.mark.slow
def test_no_error_on_a_clean_file_and_every_bad_one_caught() -> None:
    _check(_errors(sdk=True), _manifest())


def test_the_same_without_the_sdk_layer_for_every_finding_it_does_not_need() -> None:
    # The fast suite's share: everything but the SDK's own schema checks.
    entries = [e for e in _manifest() if not str(e.get("code", "")).startswith("sdk.")]
    _check(_errors(sdk=False), entries)
