"""Keep the README's output blocks true: each is the real output of the command its marker names.

A marker line

    <!-- amlgen:output SCENARIO: ARGS -->

is followed by a fenced block holding what `amlgen ARGS` prints on stdout, run in a fresh copy of
the project (params/, azureml/, samples/ and data prepared from the shipped sample), with no
workspace configured. SCENARIO is `offline` (nothing else), `fresh` (a local emulator with an
empty workspace) or `drift` (a local emulator where `amlgen run --keep-endpoint` ran, then
someone scaled the deployment to 3 instances and moved its traffic away in the portal).
README.md and every docs/*.md are kept so. Prices are read on a fixed day (AMLGEN_TODAY), so a
block does not go stale overnight; against the emulator they are its fixtures.

    python scripts/readme_blocks.py --check   # exit 1 with a diff when a block is stale (make test)
    python scripts/readme_blocks.py --write   # rewrite the blocks in place (make readme)
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
# A block's fence may be longer than three backticks (```` around markdown that has fences).
MARKER = re.compile(
    r"^<!-- amlgen:output (?P<scenario>[a-z]+): (?P<args>.+?) -->\n(?P<fence>`{3,})[a-z]*\n",
    re.M,
)
SCENARIOS = ("offline", "fresh", "drift")
DOCS = ROOT / "docs"
TODAY = "2026-12-02"  # the day the blocks' prices are read on
SAMPLE = "samples/ultrachat_200k_sample"
# Nothing from the caller's shell may leak in: no workspace, no emulator, no real `az`.
DROP = ("AZURE_", "AZUREML_", "AMLGEN_", "CI", "GITHUB_")


def blocks(text: str) -> list[tuple[re.Match[str], int]]:
    """Each marker and the offset just after its block's last line (where the fence starts)."""
    out = []
    for m in MARKER.finditer(text):
        end = text.find(f"\n{m['fence']}\n", m.end() - 1)
        if end < 0:
            raise SystemExit(f"README.md: the block after {m.group(0).splitlines()[0]!r} is open")
        out.append((m, end + 1))
    return out


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(DROP)}
    bin_dir = Path(sys.executable).parent
    env["PATH"] = os.pathsep.join([str(bin_dir), "/usr/bin", "/bin"])  # no `az` on the PATH
    env["AMLGEN_TODAY"] = TODAY
    env.update(extra or {})
    return env


def amlgen(project: Path, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "generator", "-C", str(project), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def fresh_project(tmp: Path) -> Path:
    """The project as a new user has it after `amlgen data` on the shipped sample."""
    project = tmp / "project"
    for name in ("params", "azureml", "samples"):
        shutil.copytree(ROOT / name, project / name, symlinks=True)
    shutil.copytree(ROOT / "data", project / "data", ignore=shutil.ignore_patterns("*.jsonl"))
    done = amlgen(project, ["data", "--env", "dev", "--source", SAMPLE], _env())
    if done.returncode != 0:
        raise SystemExit(f"amlgen data failed:\n{done.stderr}")
    return project


def _change(url: str, secret: str, body: dict[str, object]) -> None:
    from generator.workspace import make_token

    request = urllib.request.Request(
        url + "_emulator/change",
        json.dumps(body).encode(),
        method="POST",
        headers={
            "Authorization": "Bearer " + make_token(url, secret),
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=30):
        pass


@contextmanager
def scenario(name: str, project: Path) -> Iterator[dict[str, str]]:
    """The environment the scenario's commands run in."""
    if name == "offline":
        yield _env()
        return
    sys.path.insert(0, str(ROOT))
    from generator.emulator import Emulator

    with Emulator(job_seconds=0.5, deploy_seconds=0.2) as emu:
        env = _env(
            {
                "AMLGEN_EMULATOR": emu.url,
                "AMLGEN_EMULATOR_SECRET": emu.secret,
                "AMLGEN_POLL_SECONDS": "0.1",
            }
        )
        if name == "fresh":
            yield env
            return
        ran = amlgen(project, ["run", "--env", "dev", "--backend", "sdk", "--keep-endpoint"], env)
        if ran.returncode != 0:
            raise SystemExit(f"amlgen run failed:\n{ran.stderr}")
        endpoint = "ultrachat-completion-dev"
        _change(
            emu.url,
            emu.secret,
            {"resource": "deployment", "name": "demo", "endpoint": endpoint, "instance_count": 3},
        )
        _change(
            emu.url, emu.secret, {"resource": "endpoint", "name": endpoint, "traffic": {"demo": 0}}
        )
        yield env


def generate(text: str) -> str:
    """The README with every block replaced by its command's current output."""
    wanted = blocks(text)
    unknown = {m["scenario"] for m, _ in wanted} - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"README.md: unknown scenario(s) {sorted(unknown)}: use {SCENARIOS}")
    outputs: dict[tuple[str, str], str] = {}
    with tempfile.TemporaryDirectory(prefix="amlgen-readme-") as tmp:
        for name in SCENARIOS:
            todo = [m for m, _ in wanted if m["scenario"] == name]
            if not todo:
                continue
            project = fresh_project(Path(tmp) / name)
            with scenario(name, project) as env:
                for m in todo:
                    proc = amlgen(project, shlex.split(m["args"]), env)
                    if proc.returncode not in (0, 2):  # 2: a plan with changes
                        raise SystemExit(
                            f"README.md: `amlgen {m['args']}` ({name}) exited "
                            f"{proc.returncode}:\n{proc.stderr}"
                        )
                    outputs[(name, m["args"])] = proc.stdout.replace(str(project), ".")
    out, pos = [], 0
    for m, end in wanted:
        out += [text[pos : m.end()], outputs[(m["scenario"], m["args"])]]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="exit 1 with a diff when stale")
    mode.add_argument("--write", action="store_true", help="rewrite the blocks in README.md")
    args = parser.parse_args()
    stale = 0
    for path in [README, *sorted(DOCS.glob("*.md"))]:
        name = path.relative_to(ROOT).as_posix()
        text = path.read_text(encoding="utf-8")
        new = generate(text)
        if new == text:
            print(f"{name}: every output block matches the tool", file=sys.stderr)
            continue
        if args.write:
            tmp = path.with_name(f".{path.name}.{os.getpid()}.amlgen-tmp")
            tmp.write_text(new, encoding="utf-8")
            tmp.replace(path)
            print(f"{name}: output blocks rewritten", file=sys.stderr)
            continue
        sys.stdout.writelines(
            difflib.unified_diff(
                text.splitlines(True), new.splitlines(True), name, f"{name} (the tool now)"
            )
        )
        print(
            f"error: {name}'s output blocks no longer match the tool: `make readme`, review, "
            "commit",
            file=sys.stderr,
        )
        stale += 1
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
