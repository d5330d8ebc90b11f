"""Parameters: overlays, --set, typed errors with file:line, model-specific defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.errors import ParamsError
from generator.params import Params, environments, load_params, sanitize_model_name


def write(project: Path, name: str, text: str) -> None:
    (project / "params" / name).write_text(text, encoding="utf-8")


def problems(project: Path, env: str = "dev", overrides: tuple[str, ...] = ()) -> list[str]:
    with pytest.raises(ParamsError) as info:
        load_params(env, project, overrides)
    return info.value.problems


def test_shipped_environments_resolve(project: Path) -> None:
    assert environments(project) == ["dev", "notebook", "prod", "serverless"]
    dev, prod = load_params("dev", project), load_params("prod", project)
    assert dev.gpus_per_node == 1  # Standard_NC24ads_A100_v4
    assert prod.gpus_per_node == 2  # Standard_NC48ads_A100_v4
    assert prod.params.data.split_percent == 20 and dev.params.data.split_percent == 5
    assert dev.sources == ["params/base.yaml", "params/dev.yaml"]
    assert dev.registered_model_name == "Phi-4-ultrachat-200k"


def test_precedence_base_then_env_then_set(project: Path) -> None:
    write(project, "dev.yaml", "deployment:\n  instance_count: 2\n  name: blue\n")
    r = load_params("dev", project, ["deployment.instance_count=3"])
    assert r.params.deployment.instance_count == 3  # --set wins
    assert r.params.deployment.name == "blue"  # overlay wins over base
    assert r.params.deployment.request_settings.request_timeout_ms == 90000  # base kept
    assert r.params.deployment.liveness_probe.initial_delay == 600  # nested mapping merged


def test_overlay_replaces_lists_and_merges_mappings(project: Path) -> None:
    write(
        project, "dev.yaml", "data:\n  splits: [train_sft, test_sft]\njob:\n  tags: {team: nlp}\n"
    )
    r = load_params("dev", project, ["job.tags.owner=ana"])
    assert r.params.data.splits == ["train_sft", "test_sft"]
    assert r.params.job.tags == {"team": "nlp", "owner": "ana"}


def test_model_specific_defaults_override_like_the_notebook(project: Path) -> None:
    r = load_params("notebook", project)
    # notebook.yaml asks for 3 epochs; the model's tag says 1 and wins, as in the notebook.
    assert r.finetune_inputs["num_train_epochs"] == 1
    assert r.defaults_overrode["num_train_epochs"] == (3, 1)
    # Normalised to the component's own types.
    assert r.finetune_inputs["deepspeed_stage"] == "2"
    assert r.finetune_inputs["precision"] == "16"
    assert r.finetune_inputs["apply_lora"] == "true"
    assert r.finetune_inputs["learning_rate"] == pytest.approx(5e-6)
    assert isinstance(r.finetune_inputs["learning_rate"], float)
    # Metadata that is not a component input is dropped, never sent.
    assert {"learning_rate_min", "learning_rate_max"} <= set(r.defaults_dropped)
    assert "learning_rate_min" not in r.finetune_inputs


def test_model_specific_defaults_fill_and_off(project: Path) -> None:
    fill = load_params("notebook", project, ["model.specific_defaults=fill"])
    assert fill.finetune_inputs["num_train_epochs"] == 3
    assert fill.finetune_inputs["precision"] == "16"  # unset by the user: filled
    off = load_params("notebook", project, ["model.specific_defaults=ignore"])
    assert off.finetune_inputs["num_train_epochs"] == 3
    assert "precision" not in off.finetune_inputs
    assert off.defaults_applied == {}


def test_phi4_defaults_come_from_its_own_metadata(project: Path) -> None:
    r = load_params("dev", project)
    assert (r.params.model.name, r.params.model.version) == ("Phi-4", "8")
    # base.yaml sets no fine-tune input: Phi-4's model_specific_defaults decide every one.
    assert r.finetune_inputs["deepspeed_stage"] == "3"
    assert r.finetune_inputs["num_train_epochs"] == 1
    assert r.defaults_overrode == {}
    assert r.params.compute.size == "Standard_NC24ads_A100_v4"  # first recommended GPU size
    assert r.params.deployment.instance_type == "Standard_NC24ads_A100_v4"
    assert r.params.job.experiment_name == "chat_completion_Phi-4"
    # An explicit value wins over the model's default (model.specific_defaults: fill).
    mine = load_params("dev", project, ["finetune.deepspeed_stage=2"])
    assert mine.finetune_inputs["deepspeed_stage"] == "2"


def test_one_line_switches_everything_that_follows_from_the_model(project: Path) -> None:
    r = load_params("dev", project, ["model.name=Phi-3-mini-4k-instruct", "model.version=15"])
    assert r.params.job.experiment_name == "chat_completion_Phi-3-mini-4k-instruct"
    assert r.registered_model_name == "Phi-3-mini-4k-instruct-ultrachat-200k"
    assert r.params.registered_model.description == (
        "Phi-3-mini-4k-instruct fine tuned model for ultrachat 200k chat-completion"
    )
    assert r.params.endpoint.description == (
        "Online endpoint serving Phi-3-mini-4k-instruct-ultrachat-200k"
    )
    assert r.finetune_inputs["deepspeed_stage"] == "2"  # Phi-3-mini's own defaults
    # Its first recommended inference sizes (NCv3) are retired: the first current one is taken.
    assert r.params.deployment.instance_type == "Standard_NC24ads_A100_v4"
    # Set explicitly, nothing is derived.
    kept = load_params(
        "dev",
        project,
        ["model.name=Phi-3-mini-4k-instruct", "model.version=15", "job.experiment_name=mine"],
    )
    assert kept.params.job.experiment_name == "mine"


def test_sequence_length_is_bounded_by_the_context_window(project: Path) -> None:
    (line,) = problems(project, overrides=("finetune.max_seq_length=32768",))
    assert (
        "finetune.max_seq_length: 32768 exceeds the 16384-token context window of Phi-4 8" in line
    )
    assert load_params("dev", project, ["finetune.max_seq_length=16384"])


def test_unknown_model_without_sizes_is_one_line(project: Path) -> None:
    (line,) = problems(project, overrides=("model.name=NoSuchModel",))
    assert "model.name: NoSuchModel 8 is not in the model catalog (known: " in line


def test_unknown_key_names_file_line_and_suggests(project: Path) -> None:
    write(project, "dev.yaml", "compute:\n  name: x-gpu\n  sizee: Standard_NC24ads_A100_v4\n")
    (line,) = problems(project)
    assert line.startswith("params/dev.yaml:3: compute.sizee: unknown key; did you mean 'size'?")


def test_unknown_key_in_base_points_at_base(project: Path) -> None:
    base = (project / "params" / "base.yaml").read_text()
    write(
        project, "base.yaml", base.replace("  tier: dedicated\n", "  tier: dedicated\n  tierr: x\n")
    )
    (line,) = problems(project)
    assert line.startswith("params/base.yaml:")
    assert "compute.tierr: unknown key; did you mean 'tier'?" in line


@pytest.mark.parametrize(
    ("overlay", "path", "gist"),
    [
        ("finetune:\n  num_train_epochs: three\n", "finetune.num_train_epochs", "valid integer"),
        ("finetune:\n  num_train_epochs: 0\n", "finetune.num_train_epochs", "at least 1"),
        ("finetune:\n  optim: adamw_hf\n", "finetune.optim", "'adamw_torch' or 'adafactor'"),
        ("finetune:\n  apply_lora: 'yes'\n", "finetune.apply_lora", "valid boolean"),
        ("finetune:\n  learning_rate: 5e-6\n", "finetune.learning_rate", "valid number"),
        (
            "deployment:\n  request_settings: {request_timeout_ms: 200000}\n",
            "deployment.request_settings.request_timeout_ms",
            "1..180000",
        ),
        ("deployment:\n  instance_count: 0\n", "deployment.instance_count", "at least 1"),
        ("data:\n  split_percent: 0\n", "data.split_percent", "greater than 0"),
        ("data:\n  sample: shuffled\n", "data.sample", "'first' or 'random'"),
        ("model:\n  version: 1.10\n", "model.version", "quote the version"),
        ("job:\n  step_name: Fine-Tune\n", "job.step_name", "lower-case identifier"),
        (
            "compute:\n  kind: kubernetes\n",
            "compute.kind",
            "'cluster', 'serverless' or 'instance_types'",
        ),
    ],
)
def test_typed_errors(project: Path, overlay: str, path: str, gist: str) -> None:
    write(project, "dev.yaml", overlay)
    found = problems(project)
    assert len(found) == 1, found
    assert found[0].startswith("params/dev.yaml:2: " + path + ": "), found[0]
    assert gist in found[0]


def test_yaml_traps_are_errors_not_surprises(project: Path) -> None:
    write(project, "dev.yaml", "compute:\n  size: a\n  size: b\n")
    (line,) = problems(project)
    assert line.startswith("params/dev.yaml:3:") and "duplicate key 'size'" in line
    write(project, "dev.yaml", "compute:\n\tsize: a\n")
    (line,) = problems(project)
    assert "params/dev.yaml:2: malformed YAML" in line and "tabs" in line
    write(project, "dev.yaml", "- a list\n")
    (line,) = problems(project)
    assert "must be a mapping" in line


def test_component_version_decides_which_inputs_exist(project: Path) -> None:
    write(
        project,
        "dev.yaml",
        "component:\n  version: '0.0.81'\nfinetune:\n  trust_remote_code: false\n",
    )
    (line,) = problems(project)
    assert line == (
        "params/dev.yaml:4: finetune.trust_remote_code: "
        "not an input of chat_completion_pipeline 0.0.81"
    )
    ok = load_params(
        "dev", project, ["finetune.trust_remote_code=false", "component.version=0.0.82"]
    )
    assert ok.finetune_inputs["trust_remote_code"] == "false"


def test_set_errors(project: Path) -> None:
    assert problems(project, overrides=("novalue",)) == [
        "--set novalue: expected path.to.key=value"
    ]
    assert problems(project, overrides=("model.name.x=1",)) == [
        "--set model.name.x: model.name is not a mapping"
    ]
    (line,) = problems(project, overrides=("finetune.nope=1",))
    assert line.startswith("--set: finetune.nope: unknown key")


def test_unknown_environment(project: Path) -> None:
    (line,) = problems(project, env="staging")
    assert "unknown environment 'staging'; known: dev, notebook, prod" in line


def test_gpu_count_comes_from_the_vm_size(project: Path) -> None:
    assert (
        load_params("dev", project, ["compute.size=Standard_ND96amsr_A100_v4"]).gpus_per_node == 8
    )
    assert load_params("dev", project, ["compute.size=standard_nc96ads_a100_v4"]).gpus_per_node == 4
    (line,) = problems(project, overrides=("compute.size=Standard_D12_v2",))
    assert "compute.size: Standard_D12_v2 has no GPUs" in line


def test_fingerprint_tracks_values_not_formatting(project: Path) -> None:
    a = load_params("dev", project).fingerprint
    dev = project / "params" / "dev.yaml"
    dev.write_text("# a comment only\n" + dev.read_text())
    assert load_params("dev", project).fingerprint == a
    assert load_params("dev", project, ["finetune.seed=7"]).fingerprint != a


def test_model_names_are_sanitised() -> None:
    assert (
        sanitize_model_name("Phi-3.5-mini-instruct-ultrachat-200k")
        == "Phi-3-5-mini-instruct-ultrachat-200k"
    )
    assert sanitize_model_name("org/model") == "org-model"


def test_schema_forbids_unknown_keys_everywhere() -> None:
    schema = Params.model_json_schema()
    assert schema["additionalProperties"] is False
    for name, definition in schema["$defs"].items():
        if definition.get("type") == "object" and "properties" in definition:
            assert definition.get("additionalProperties") is False, name
    finetune = schema["$defs"]["Finetune"]["properties"]
    assert finetune["num_train_epochs"]["anyOf"][0]["minimum"] == 1
    assert "trust_remote_code" in finetune and "compute_finetune" not in finetune


# --- #10.4: every number and name bounded, one line each naming file, line and path ----------

NONSENSE = [
    # (overlay, path, gist): each must be refused with exactly one line
    ("finetune:\n  learning_rate: .nan\n", "finetune.learning_rate", "finite number, got nan"),
    ("finetune:\n  learning_rate: .inf\n", "finetune.learning_rate", "finite number, got inf"),
    ("finetune:\n  learning_rate: 2.0\n", "finetune.learning_rate", "allowed: (0, 1]"),
    ("finetune:\n  num_train_epochs: 100000000\n", "finetune.num_train_epochs", "at most 1000"),
    (
        "finetune:\n  per_device_train_batch_size: 100000\n",
        "finetune.per_device_train_batch_size",
        "at most 1024",
    ),
    ("finetune:\n  max_steps: 0\n", "finetune.max_steps", "or -1"),
    ("finetune:\n  max_seq_length: 99999999\n", "finetune.max_seq_length", "tokens"),
    ("finetune:\n  adam_beta2: 1.0\n", "finetune.adam_beta2", "less than 1"),
    ("finetune:\n  warmup_steps: -3\n", "finetune.warmup_steps", "at least 0"),
    ("data:\n  split_percent: .nan\n", "data.split_percent", "finite number"),
    ("job:\n  timeout_minutes: 99999999\n", "job.timeout_minutes", "30 days"),
    ("job:\n  experiment_name: my exp/../x\n", "job.experiment_name", "no spaces, dots or slashes"),
    ("job:\n  display_name: '" + "x" * 300 + "'\n", "job.display_name", "at most 256"),
    ("job:\n  tags: {'': x}\n", "job.tags", "allowed: 1 to 100"),
    ("registered_model:\n  name: phi.4 ft\n", "registered_model.name", "no dots or spaces"),
    ("endpoint:\n  name: ep\n", "endpoint.name", "3 to 32"),
    ("endpoint:\n  name: my--endpoint\n", "endpoint.name", "single hyphens"),
    ("deployment:\n  name: 1blue\n", "deployment.name", "start with a letter"),
    ("deployment:\n  instance_count: 500\n", "deployment.instance_count", "at most 50"),
    ("deployment:\n  traffic_percent: 101\n", "deployment.traffic_percent", "0..100"),
    ("compute:\n  name: gpu-1\n", "compute.name", "-<digits>"),
    ("compute:\n  nodes: 1000\n", "compute.nodes", "at most 100"),
    ("compute:\n  gpus_per_node: 16\n", "compute.gpus_per_node", "8 GPUs"),
    (
        "compute:\n  max_instances: 1\n  min_instances: 2\n",
        "compute.max_instances",
        "greater than max_instances",
    ),
    ("compute:\n  max_instances: 1\n  nodes: 2\n", "compute.max_instances", "wait forever"),
    (
        "inference:\n  parameters: {temperature: .inf}\n",
        "inference.parameters.temperature",
        "finite",
    ),
    ("inference:\n  parameters: {top_p: 3.0}\n", "inference.parameters", "top_p must be at most 1"),
]


@pytest.mark.parametrize(("overlay", "path", "gist"), NONSENSE, ids=[n[1] for n in NONSENSE])
def test_nonsense_is_refused_with_one_line(
    project: Path, overlay: str, path: str, gist: str
) -> None:
    write(project, "dev.yaml", overlay)
    found = problems(project)
    assert len(found) == 1, found
    assert found[0].startswith(f"params/dev.yaml:2: {path}: "), found[0]
    assert gist in found[0], found[0]


def test_nonsense_on_the_command_line_names_set(project: Path) -> None:
    (line,) = problems(project, overrides=("finetune.learning_rate=.nan",))
    assert line == "--set: finetune.learning_rate: Input should be a finite number, got nan"


def test_render_refuses_nonsense_with_one_line_and_writes_nothing(project: Path) -> None:
    from click.testing import CliRunner

    from generator.cli import cli

    before = sorted(p.read_bytes() for p in (project / "azureml").rglob("*.yml"))
    for expr in ("finetune.learning_rate=.nan", "finetune.num_train_epochs=1" + "0" * 35):
        out = CliRunner().invoke(cli, ["-C", str(project), "render", "--all", "--set", expr])
        assert out.exit_code == 1, out.output
        errors = [line for line in out.output.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and errors[0].startswith("error: --set: finetune."), out.output
        assert "Traceback" not in out.output and "marshmallow" not in out.output
    assert sorted(p.read_bytes() for p in (project / "azureml").rglob("*.yml")) == before


def test_empty_env_is_an_error_not_dev(project: Path) -> None:
    (line,) = problems(project, env="")
    assert line == "--env: the environment name is empty; known: dev, notebook, prod, serverless"


def test_model_defaults_are_bounded_too(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    import generator.catalog as cat

    real = cat.model

    def corrupt(name: str, version: str | None = None) -> cat.ModelVersion | None:
        meta = real(name, version)  # a registry tag asking for a billion epochs
        assert meta is not None
        tag = {**meta.model_specific_defaults, "num_train_epochs": 10**9}
        return dataclasses.replace(meta, model_specific_defaults=tag)

    monkeypatch.setattr(cat, "model", corrupt)
    (project / "params" / "registry.lock").unlink()  # the lock would answer before the catalog
    (line,) = problems(project)
    assert "finetune.num_train_epochs: must be at most 1000" in line
    assert "model_specific_defaults" in line


def test_deployment_settings_for_large_models(project: Path) -> None:
    d = load_params("dev", project).params.deployment
    # facts §13: samples give a multi-GB model 500-600 s before the first liveness probe.
    assert d.liveness_probe.initial_delay >= 500
    assert d.liveness_probe.failure_threshold * d.liveness_probe.period >= 3000
    assert d.liveness_probe.success_threshold == 1
    assert d.readiness_probe.initial_delay > 0
    write(project, "dev.yaml", "deployment:\n  liveness_probe: {success_threshold: 2}\n")
    (line,) = problems(project)
    assert "deployment.liveness_probe.success_threshold: is fixed at 1" in line
    write(project, "dev.yaml", "deployment:\n  readiness_probe: {timeout: 0}\n")
    (line,) = problems(project)
    assert "deployment.readiness_probe.timeout: must be at least 1" in line


@pytest.mark.parametrize(
    ("overlay", "path", "gist"),
    [
        (
            "deployment:\n  environment_variables: {'bad key': x}\n",
            "deployment.environment_variables.bad key",
            "letters, digits and '_'",
        ),
        (
            "deployment:\n  environment_variables: {WORKER_COUNT: true}\n",
            "deployment.environment_variables.WORKER_COUNT",
            "valid string",
        ),
        (
            "deployment:\n  request_settings: {max_concurrent_requests_per_instance: 0}\n",
            "deployment.request_settings.max_concurrent_requests_per_instance",
            "at least 1",
        ),
        ("data:\n  validation_split: dev_sft\n", "data.validation_split", "add it to data.splits"),
        ("data:\n  validation_split: train_sft\n", "data.validation_split", "the training split"),
    ],
)
def test_deployment_and_data_settings_refused(
    project: Path, overlay: str, path: str, gist: str
) -> None:
    write(project, "dev.yaml", overlay)
    (line,) = problems(project)
    assert line.startswith(f"params/dev.yaml:2: {path}: "), line
    assert gist in line


def test_bounds_reach_the_json_schema() -> None:
    schema = Params.model_json_schema()
    epochs = schema["$defs"]["Finetune"]["properties"]["num_train_epochs"]["anyOf"][0]
    assert epochs["maximum"] == 1000
    probe = schema["$defs"]["LivenessProbe"]["properties"]["initial_delay"]
    assert probe["minimum"] == 1 and probe["default"] == 600


def test_render_with_an_empty_env_fails_instead_of_rendering_dev(project: Path) -> None:
    from click.testing import CliRunner

    from generator.cli import cli

    out = CliRunner().invoke(cli, ["-C", str(project), "render", "--env", ""])
    assert out.exit_code == 1
    assert "error: --env: the environment name is empty; known: dev, notebook" in out.output
