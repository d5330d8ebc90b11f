"""Where amlgen may write: the project check and every output root, checked here before a byte
is written.

An output root is a folder amlgen writes into or swaps whole: `render --out` and its
`<out>/<env>/` folders, `data --out` or `data.dir`, the state folder `.amlgen/<env>/`. Each must
be named (an unset `$OUT` in a script gives `--out ''`, which once joined into `/dev/...`),
lie inside the project as written (a symlink inside it may point elsewhere: the folder it
points to is checked too), and be a folder of its own: not the project itself or a folder above
it, not inside params/, generator/ or another source or tool folder, not a system or kernel
folder, not a mount point (a folder is swapped in whole by a rename, which a mount point cannot
take). `render`/`data` outside a project (no params/base.yaml) say so and write nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import names
from .errors import NotAProject, OutputRefused
from .reading import kind_of, shown_text

MAX_PATH = 1024
MAX_ENV_NAME = 200  # a file-name stem: params/<env>.yaml must fit in 255 bytes
CLIP_ENV = 60
# Folders of the project that hold sources or tools, never outputs.
SOURCE_DIRS = (
    names.PARAMS_DIR,
    names.STATE_DIR,
    "generator",
    "tests",
    "scripts",
    "bench",
    "docs",
    "samples",
    ".git",
    ".github",
    ".venv",
)
# System folders: nothing of amlgen's belongs in them or below them.
SYSTEM_TREES: tuple[str, ...] = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64")
SYSTEM_TREES += ("/libx32", "/proc", "/sbin", "/sys", "/usr", "/run", "/var/run", "/snap")
# Shared folders: fine to hold a project, never an output root themselves.
SHARED_ROOTS = ("/", "/home", "/root", "/tmp", "/var", "/opt", "/srv", "/mnt", "/media")


def require_project(project_dir: Path | str, *, params: bool = True, flag: str = "") -> Path:
    """The project folder, if it exists (and, with `params`, holds params/base.yaml); else one
    line saying so (`flag`, e.g. `-C`, first), the path clipped and without control characters.
    Never raises anything else: a name too long for the system is a folder that does not exist."""
    root = Path(project_dir)
    shown = f"{flag} {shown_text(str(project_dir))}".strip()
    kind = kind_of(root)
    if kind is None:
        raise NotAProject(f"{shown}: the folder does not exist")
    if kind == "loop":
        raise NotAProject(f"{shown}: a symlink loop, not a folder")
    if kind != "folder":
        raise NotAProject(f"{shown}: not a folder")
    if params and kind_of(root / names.PARAMS_DIR / "base.yaml") is None:
        where = "here" if shown in (".", "") else f"in {shown}"
        raise NotAProject(
            f"no {names.PARAMS_DIR}/base.yaml {where}: not an amlgen project, nothing written "
            "(run in the project folder or pass -C DIR)"
        )
    return root


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _why_not(real: str, project: str, swapped: bool) -> str | None:
    """Why a folder (absolute, symlinks resolved) cannot be an output root; None when it can."""
    if real == project or _inside(project, real):
        return "holds the project: give the output a folder of its own"
    if _inside(real, project):
        rel = os.path.relpath(real, project).split(os.sep)[0]
        if rel in SOURCE_DIRS:
            return f"inside {rel}/, a source or tool folder: give the output a folder of its own"
    else:
        for tree in SYSTEM_TREES:
            if _inside(real, tree):
                return f"inside {tree}, a system folder: refused"
        home = os.path.realpath(os.path.expanduser("~"))
        if real in SHARED_ROOTS or real == home:
            return "a shared system folder: refused"
    if swapped and os.path.isdir(real) and os.path.ismount(real):
        return (
            "a mount point: amlgen replaces an output folder whole, which a mount point cannot "
            "be; give a folder inside it"
        )
    return None


def check_root(
    value: str | Path,
    project_dir: Path | str,
    flag: str,
    *,
    owned: dict[str, str] | None = None,
    swapped: bool = True,
) -> Path:
    """The absolute path of output root `value` (relative to the project), or OutputRefused.

    `owned`: project folders another command owns ({"azureml": "render"}: data stays out);
    `swapped`: the folder itself is replaced whole (so it may not be a mount point)."""
    text = str(value)
    shown = f"{flag}: {shown_text(text)}"
    if not text.strip():
        raise OutputRefused(f"{flag}: empty: give a folder inside the project")
    if not text.isprintable():
        raise OutputRefused(f"{shown}: a control character (NUL, newline, ...) in a folder name")
    if len(text) > MAX_PATH:
        raise OutputRefused(f"{shown}: longer than {MAX_PATH} characters")
    root = Path(project_dir)
    project = os.path.realpath(root)
    path = Path(text) if Path(text).is_absolute() else root / text
    lexical = os.path.normpath(os.path.abspath(path))
    if not _inside(lexical, os.path.normpath(os.path.abspath(root))):
        raise OutputRefused(
            f"{shown}: outside the project ({os.path.abspath(root)}): amlgen writes only inside "
            "it (a symlink "
            "inside the project may point to another disk)"
        )
    try:
        real = os.path.realpath(path)
    except (OSError, RuntimeError, ValueError):
        raise OutputRefused(f"{shown}: cannot be resolved (a symlink loop?)") from None
    if os.path.lexists(path) and not os.path.isdir(path):
        if not os.path.exists(path):
            raise OutputRefused(f"{shown}: a broken symlink or a symlink loop")
        raise OutputRefused(f"{shown}: is a file, not a folder")
    why = _why_not(real, project, swapped)
    if why is None and _inside(real, project):
        rel = os.path.relpath(real, project).split(os.sep)[0]
        if rel in (owned or {}):
            why = (
                f"inside {rel}/, which {(owned or {})[rel]} owns: give it a folder of its own "
                "(e.g. data/mine)"
            )
    if why is not None:
        raise OutputRefused(f"{shown}: {why}")
    return Path(lexical)


def check_env_name(env: str) -> str:
    """An environment name is a file-name stem: it names params/<env>.yaml, azureml/<env>/ and
    .amlgen/<env>/, so it may not climb out of them."""
    if not env.strip():
        raise OutputRefused("--env: the environment name is empty")
    if not env.isprintable() or len(env) > MAX_ENV_NAME:
        raise OutputRefused(
            f"--env {shown_text(env, CLIP_ENV)}: not an environment name (printable, at most "
            f"{MAX_ENV_NAME} characters: it names params/<env>.yaml)"
        )
    if env in (".", "..") or any(c in env for c in "/\\\0") or env.startswith("."):
        raise OutputRefused(
            f"--env {shown_text(env)}: not an environment name (no slashes, no dot first)"
        )
    return env


def check_state_folder(folder: Path | str, project_dir: Path | str) -> Path:
    """A folder of amlgen's own records (`.amlgen/`, `.amlgen/<env>/`, its `logs/`): wherever a
    symlink on the way points, it may not land in another folder of the project (params/, the
    project itself) nor in a system or shared folder; another disk is fine."""
    path = Path(folder)
    real = os.path.realpath(path)
    project = os.path.realpath(project_dir)
    if _inside(real, project):
        rel = os.path.relpath(real, project).split(os.sep)[0]
        if rel == names.STATE_DIR:
            return path
        where = "the project folder itself" if rel == "." else f"the project's {rel}/"
        why = f"points into {where}, not into {names.STATE_DIR}/"
    else:
        why = _why_not(real, project, swapped=False) or ""
    if why:
        shown = shown_text(os.path.relpath(path, project_dir))
        raise OutputRefused(
            f"{shown} (which resolves to {shown_text(real)}): amlgen's records folder {why}: "
            "refused, nothing written; make it a folder of its own"
        )
    return path
