"""The emulator refuses a pipeline job at submission as the service does: every step's registry
component is resolved before anything else is checked (recorded in
test_pipeline_job_create_with_registry_model_as_input: a pipeline whose registry model input is
unreachable too answers the registry component's 400, not a job that fails later)."""

from __future__ import annotations

from typing import Any

import pytest

from generator.emulator.jobcheck import JobProblem, SubmitProblem, check_pipeline_job

UNREACHABLE_MODEL = "azureml://registries/00000-test/models/iris_model/versions/1"
UNKNOWN_COMPONENT = "azureml://registries/00000-test/components/score_component/versions/2"
BUNDLED = "azureml://registries/azureml/components/chat_completion_pipeline/versions/0.0.82"


def _pipeline(*components: str) -> dict[str, Any]:
    return {
        "jobType": "Pipeline",
        "inputs": {"model": {"jobInputType": "mlflow_model", "uri": UNREACHABLE_MODEL}},
        "jobs": {f"step{i}": {"componentId": c, "inputs": {}} for i, c in enumerate(components)},
    }


def test_an_unusable_registry_component_refuses_the_job_before_its_inputs_are_read() -> None:
    workspace_component = "/subscriptions/0/resourceGroups/rg/providers/x/components/a/versions/1"
    with pytest.raises(SubmitProblem) as err:
        check_pipeline_job(_pipeline(workspace_component, UNKNOWN_COMPONENT), {}, {})
    assert err.value.code == "BadRequest"
    assert err.value.message.startswith(f"key: {UNKNOWN_COMPONENT}, Message: ")


def test_with_usable_components_an_unreachable_input_fails_the_job_while_it_runs() -> None:
    with pytest.raises(JobProblem) as err:
        check_pipeline_job(_pipeline(BUNDLED), {}, {})
    assert not isinstance(err.value, SubmitProblem)
    assert "was not found in registry '00000-test'" in err.value.message
