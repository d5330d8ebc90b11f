"""The pipeline job built from SDK entity classes, for SDK-first users.

`build_pipeline_job(resolved)` returns the same job as `load_job("azureml/<env>/pipeline-job.yml")`:
tests compare both REST bodies (`to_rest_job_object(job).as_dict()`) after normalising what
legitimately differs (the random client-side name, the `_source` markers, git properties, and
local data paths, which the YAML gives relative to its folder and this gives absolute).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .rendering import (
    MLFLOW_OUTPUT,
    TRAINED_MODEL_OUTPUT,
    display_name,
    registry_component_id,
    registry_model_id,
    resource_tags,
)

if TYPE_CHECKING:
    from azure.ai.ml.entities import PipelineJob

    from .params import Resolved

_COMPUTE_INPUTS = (
    "compute_model_import",
    "compute_preprocess",
    "compute_finetune",
    "compute_model_evaluation",
)


def _step_inputs(r: Resolved) -> dict[str, Any]:
    p = r.params
    inputs: dict[str, Any] = {
        "mlflow_model_path": "${{parent.inputs.mlflow_model_path}}",
        "train_file_path": "${{parent.inputs.train_file_path}}",
        "test_file_path": "${{parent.inputs.test_file_path}}",
        "task_name": "ChatCompletion",
    }
    if p.compute.kind == "cluster":
        inputs.update({key: p.compute.name for key in _COMPUTE_INPUTS})
    else:
        inputs.update({key: "serverless" for key in _COMPUTE_INPUTS})
        inputs["instance_type_model_import"] = p.compute.cpu_size
        inputs["instance_type_preprocess"] = p.compute.cpu_size
        inputs["instance_type_finetune"] = p.compute.size
        inputs["instance_type_model_evaluation"] = p.compute.size
    inputs["num_nodes_finetune"] = p.compute.nodes
    inputs["number_of_gpu_to_use_finetuning"] = r.gpus_per_node
    inputs.update(r.finetune_inputs)
    return inputs


def build_pipeline_job(resolved: Resolved) -> PipelineJob:
    """The fine-tuning pipeline job as SDK entities (data paths absolute, from the project)."""
    from azure.ai.ml import Input, Output
    from azure.ai.ml.entities import PipelineJob, PipelineJobSettings
    from azure.ai.ml.entities._builders.pipeline import Pipeline

    p = resolved.params
    data_dir = (resolved.project_dir / p.data.dir).resolve()
    step = Pipeline(
        name=p.job.step_name,
        component=registry_component_id(resolved),
        inputs=_step_inputs(resolved),
        outputs={MLFLOW_OUTPUT: f"${{{{parent.outputs.{TRAINED_MODEL_OUTPUT}}}}}"},
    )
    return PipelineJob(
        display_name=display_name(resolved),
        experiment_name=p.job.experiment_name,
        description=p.job.description,
        tags={**p.job.tags, **resource_tags(resolved)},
        settings=PipelineJobSettings(
            force_rerun=p.job.force_rerun,
            continue_on_step_failure=p.job.continue_on_step_failure,
        ),
        inputs={
            "mlflow_model_path": Input(type="mlflow_model", path=registry_model_id(resolved)),
            "train_file_path": Input(
                type="uri_file", path=str(data_dir / f"{p.data.train_split}.jsonl")
            ),
            "test_file_path": Input(
                type="uri_file", path=str(data_dir / f"{p.data.test_split}.jsonl")
            ),
        },
        outputs={TRAINED_MODEL_OUTPUT: Output(type="mlflow_model")},
        jobs={p.job.step_name: step},
    )
