"""The pipeline job built from SDK entity classes, for SDK-first users.

`build_pipeline_job(resolved)` returns the same job as `load_job("azureml/<env>/pipeline-job.yml")`:
tests compare both REST bodies (`to_rest_job_object(job).as_dict()`) after normalising what
legitimately differs (the random client-side name, the `_source` markers, git properties, and
local data paths, which the YAML gives relative to its folder and this gives absolute).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .rendering import (
    MLFLOW_OUTPUT,
    TRAINED_MODEL_OUTPUT,
    data_files,
    display_name,
    registry_component_id,
    registry_model_id,
    resource_tags,
    step_inputs,
    step_output_binding,
)

if TYPE_CHECKING:
    from azure.ai.ml.entities import PipelineJob

    from .params import Resolved


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
        inputs=step_inputs(resolved),
        outputs={MLFLOW_OUTPUT: step_output_binding()},
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
            **{
                name: Input(type="uri_file", path=str(data_dir / f"{split}.jsonl"))
                for name, split in data_files(resolved).items()
            },
        },
        outputs={TRAINED_MODEL_OUTPUT: Output(type="mlflow_model")},
        jobs={p.job.step_name: step},
    )
