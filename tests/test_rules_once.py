"""One rule, one place: the registry URI pair round-trips, and the VM-size allow-list rule says
the same thing to the offline validator (bundled metadata) and to the live pre-flight (registry
tags), so a size refused in review is refused before submission in the same words."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from generator import catalog
from generator.backends import Assets
from generator.catalog.allow_lists import K80_SIZES, finetune_refusal, inference_warning
from generator.catalog.uri import COMPONENTS, MODELS, parse_registry_uri, registry_uri
from generator.errors import RenderError, WorkflowError
from generator.preflight import check_model_tags
from generator.rendering import render_environments

ROOT = Path(__file__).resolve().parent.parent
OFF_LIST = "Standard_NC16as_T4_v3"  # a current GPU size, not on Phi-4's fine-tuning list


def test_registry_uris_format_and_parse_as_one_pair() -> None:
    uri = registry_uri("azureml", COMPONENTS, "chat_completion_pipeline", "0.0.82")
    assert uri == "azureml://registries/azureml/components/chat_completion_pipeline/versions/0.0.82"
    parsed = parse_registry_uri(uri)
    assert parsed is not None
    assert registry_uri(parsed.registry, parsed.kind, parsed.name, parsed.version) == uri
    assert parse_registry_uri(uri, MODELS) is None  # asked for a model: a component is not one
    label = parse_registry_uri("azureml://registries/azureml/models/Phi-4/labels/latest")
    assert label is not None and label.label == "latest" and label.version is None
    assert parse_registry_uri("azureml://registries/azureml/models/Phi-4/").version is None  # type: ignore[union-attr]
    for other in ("azureml:Phi-4:8", "azureml://jobs/j/outputs/trained_model", 8, None):
        assert parse_registry_uri(other) is None
    with pytest.raises(ValueError):
        registry_uri("azureml", "datasets", "x")


def test_the_allow_list_rule() -> None:
    allow = catalog.model("Phi-4", "8").finetune_allow_list  # type: ignore[union-attr]
    assert finetune_refusal(allow[0].upper(), allow, "Phi-4 8") is None  # case-insensitive
    assert "not on Phi-4 8's fine-tuning allow list" in (
        finetune_refusal(OFF_LIST, allow, "Phi-4 8") or ""
    )
    assert finetune_refusal(OFF_LIST, (), "m") is None  # no list: anything but K80
    assert (
        finetune_refusal(sorted(K80_SIZES)[0], (), "m")
        == f"{sorted(K80_SIZES)[0]} (K80) cannot fine-tune this model"
    )
    assert inference_warning(OFF_LIST, allow, "Phi-4 8") is not None
    assert inference_warning(OFF_LIST, (), "Phi-4 8") is None


def test_validator_and_preflight_refuse_an_off_list_size_in_the_same_words(tmp_path: Path) -> None:
    allow = catalog.model("Phi-4", "8").finetune_allow_list  # type: ignore[union-attr]
    why = finetune_refusal(OFF_LIST, allow, "Phi-4 8")
    assert why
    shutil.copytree(ROOT / "params", tmp_path / "params")
    from generator.validation import validate_rendered

    def guard(files: dict[str, str], root: Path) -> None:
        validate_rendered(files, root)

    with pytest.raises(RenderError) as refused:
        render_environments(["dev"], tmp_path, [f"compute.size={OFF_LIST}"], validate=guard)
    assert why in str(refused.value)

    # The live pre-flight, on the same size, with the tags the registry serves.
    render_environments(["dev"], tmp_path, [f"compute.size={OFF_LIST}"])
    folder = tmp_path / "azureml" / "dev"
    assets = Assets.load(folder, tmp_path, request_file=tmp_path / "req.json")
    tags = {"finetune_compute_allow_list": str(list(allow))}
    with pytest.raises(WorkflowError) as live:
        check_model_tags(tags, "Phi-4 8", assets, warn=lambda line: None)
    assert str(live.value) == f"Phi-4 8: {why}"
