"""Every file, folder and environment-variable name amlgen reads or writes, defined once.

Modules import these names; none spells one of them as a literal of its own.
"""

from __future__ import annotations

# --- rendered files: azureml/<env>/ ----------------------------------------------------------
OUTPUT_DIR = "azureml"
COMPUTE_FILE = "compute.yml"
PIPELINE_JOB_FILE = "pipeline-job.yml"
MODEL_FILE = "model.yml"
ENDPOINT_FILE = "endpoint.yml"
DEPLOYMENT_FILE = "deployment.yml"
FINETUNING_JOB_FILE = "finetuning-job.yml"
SERVERLESS_ENDPOINT_FILE = "serverless-endpoint.yml"

# --- params/ and data/ -------------------------------------------------------------------------
PARAMS_DIR = "params"
LOCK_FILE = "params/registry.lock"
SCHEMA_FILE = "params/params.schema.json"
MANIFEST_FILE = "manifest.json"
REQUEST_FILE = "sample_score.json"

# --- state: .amlgen/<env>/ ---------------------------------------------------------------------
STATE_DIR = ".amlgen"
STATE_FILE = "state.json"
ENV_LOCK_FILE = "run.lock"  # one process changing an environment at a time (generator.envlock)
RESPONSE_FILE = "response.json"

# --- environment variables ---------------------------------------------------------------------
ENV_EMULATOR = "AMLGEN_EMULATOR"  # the emulator's URL: every command uses it
ENV_EMULATOR_SECRET = "AMLGEN_EMULATOR_SECRET"  # the secret its tokens are signed with
ENV_AZ = "AMLGEN_AZ"  # the `az` executable (tests point it at the stand-in)
ENV_POLL = "AMLGEN_POLL_SECONDS"  # first job poll interval
ENV_HEARTBEAT = "AMLGEN_HEARTBEAT_SECONDS"  # progress lines during long waits
ENV_TODAY = "AMLGEN_TODAY"  # the day model lifecycles are judged on (YYYY-MM-DD)
