"""What a managed online deployment's two containers log, and how its provisioning fails.

`getLogs` (`POST .../deployments/{name}/getLogs`, body `{containerType, tail}`) answers
`{"content": ...}` (the SDK's generated `DeploymentLogs`; not recorded, see recordings/README.md).
The `storage-initializer` downloads the model; the `inference-server` starts the server and loads
it. A `deployment_fails` fault picks how it ends, the ways Azure reports most (facts §13-14):
the liveness probe failing while a large model loads, the container running out of memory, the
image failing to pull. Each has the service's kind of message and logs that show it. The
storage initializer's log carries a SAS URL, as real ones do: amlgen must mask it.
"""

from __future__ import annotations

import secrets

STORAGE = "StorageInitializer"
SERVER = "InferenceServer"
CONTAINERS = (SERVER, STORAGE)

MESSAGES = {
    "liveness_probe": (
        "ResourceNotReady: User container has crashed or terminated: Liveness probe failed: "
        "HTTP probe failed with statuscode: 502. The container was restarted 3 times "
        "(fault injected by the amlgen emulator)."
    ),
    "out_of_memory": (
        "ResourceNotReady: User container has crashed or terminated: Container was killed: "
        "OOMKilled (exit code 137) (fault injected by the amlgen emulator)."
    ),
    "image_pull": (
        "ImageNotFound: Failed to pull the image for the deployment: ErrImagePull: manifest "
        "unknown (fault injected by the amlgen emulator)."
    ),
}


def _storage(model: str) -> list[str]:
    sig = secrets.token_urlsafe(24)
    return [
        "2026-12-02T10:00:01Z | storage-initializer | Starting the model download",
        f"2026-12-02T10:00:01Z | storage-initializer | Model: {model}",
        "2026-12-02T10:00:02Z | storage-initializer | Source: https://emulatorstore.blob.core."
        f"windows.net/azureml/ExperimentRun/model?sv=2023-11-03&sr=c&sig={sig}",
        "2026-12-02T10:03:40Z | storage-initializer | Downloaded 28.1 GB in 218 s",
        "2026-12-02T10:03:40Z | storage-initializer | Model is ready at "
        "/var/azureml-app/azureml-models",
    ]


def _server(reason: str | None) -> list[str]:
    start = [
        "2026-12-02T10:03:45Z | INFO | Starting AzureML Inference Server HTTP.",
        "2026-12-02T10:03:45Z | INFO | Entry script: /var/azureml-app/score.py",
        "2026-12-02T10:03:46Z | INFO | Loading the model from /var/azureml-app/azureml-models",
    ]
    if reason is None:
        return [
            *start,
            "2026-12-02T10:03:47Z | INFO | amlgen emulator: the stand-in scoring container "
            "has no model to load.",
            "2026-12-02T10:03:47Z | INFO | Listening on 0.0.0.0:31311",
        ]
    if reason == "liveness_probe":
        return [
            *start,
            *(
                f"2026-12-02T10:{4 + i:02d}:00Z | INFO | Loading checkpoint shards: "
                f"{(i + 1) * 16}% ({i + 1}/6)"
                for i in range(5)
            ),
            "2026-12-02T10:10:00Z | WARNING | Received SIGTERM: the server did not answer "
            "GET / before the liveness probe gave up; the container is being restarted",
        ]
    if reason == "out_of_memory":
        return [
            *start,
            "2026-12-02T10:04:12Z | INFO | Loading checkpoint shards: 33% (2/6)",
            "2026-12-02T10:04:30Z | ERROR | torch.OutOfMemoryError: CUDA out of memory. Tried "
            "to allocate 1.25 GiB. GPU 0 has a total capacity of 79.25 GiB of which 0.98 GiB "
            "is free.",
            "2026-12-02T10:04:30Z | ERROR | Worker exiting (pid: 47): exit code 137 (OOMKilled)",
        ]
    return []  # image_pull: the server container never started


def logs(model: str, reason: str | None) -> dict[str, str]:
    """containerType -> its log, for a deployment that starts (reason None) or fails so."""
    server = _server(reason)
    return {
        STORAGE: "\n".join(_storage(model)) + "\n",
        SERVER: "\n".join(server) + "\n" if server else "",
    }


def tail(text: str, lines: int | None) -> str:
    if not lines or lines <= 0:
        return text
    kept = text.splitlines()[-lines:]
    return "\n".join(kept) + ("\n" if kept else "")
