"""The project's own exception types. The CLI maps every one of them to a one-line error."""

from __future__ import annotations


class AmlgenError(Exception):
    """A user-facing error: the message is the whole story, no traceback needed."""

    exit_code = 1


class ParamsError(AmlgenError):
    """Bad parameters: carries `file:line: path: message` lines, one per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class RenderError(AmlgenError):
    """Rendering refused: what would be written is invalid or cannot be written."""


class ValidationFailed(AmlgenError):
    """`validate` found errors (the findings were already reported)."""


class DataError(AmlgenError):
    """The dataset cannot be prepared as asked."""


class CommandError(AmlgenError):
    """An external command failed; keeps its argv, exit code and stderr."""

    def __init__(self, argv: list[str], returncode: int, stderr: str):
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr
        tail = stderr.strip().splitlines()[-5:] if stderr.strip() else []
        detail = ("\n  " + "\n  ".join(tail)) if tail else ""
        super().__init__(f"`{' '.join(argv)}` exited {returncode}{detail}")


class WorkflowError(AmlgenError):
    """A step of the Azure ML flow failed or was refused."""


class EnvironmentBusy(WorkflowError):
    """Another amlgen process holds the environment (generator.envlock names it)."""


class NotAProject(AmlgenError):
    """The folder does not exist or holds no params/base.yaml: nothing is written there."""


class OutputRefused(AmlgenError):
    """An output folder amlgen will not write to (generator.outputs says why, in one line)."""
