"""Materialise the public validation corpus from the manifest (tests/validate_cases/public/).

Every entry of `manifest.yaml` names a repository, a commit and a path; this script copies that
file out of a local mirror of the repository (`<mirrors>/<owner>+<name>/repo`, a git directory
such as the sandbox's `fetch` leaves), then the local files it references, so the corpus
validates as the published folder does: component files, conda files, data, MLTable folders and
Docker contexts as published, but `code:` folders as a folder holding only OMITTED.txt and
source files (.py, .ipynb, ...) of other folders listed in one (sources are never judged, only
that the folder exists); files over 64 KiB cut to their
first 20 lines (listed in TRIMMED.txt). A referenced YAML asset must have a manifest entry of
its own: the script lists the missing ones and exits 1.

Run: .venv/bin/python scripts/collect_public_corpus.py [--mirrors /work/.mirror]
"""

from __future__ import annotations

import argparse
import posixpath
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "validate_cases" / "public"
FILES = CORPUS / "files"
MAX_BYTES = 64 * 1024
KEEP_LINES = 20
REFERENCE_KEYS = {"code", "path", "conda_file", "component", "trial", "create_job"}
SOURCE_SUFFIXES = (".py", ".ipynb", ".sh", ".r", ".js", ".ts", ".cs", ".java")  # never judged
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


class Repo:
    def __init__(self, mirrors: Path, name: str, commit: str) -> None:
        self.git = mirrors / name.replace("/", "+") / "repo"
        self.commit = commit
        listing = self._run("ls-tree", "-r", "-l", commit)
        self.blobs: dict[str, tuple[str, int]] = {}
        for line in listing.splitlines():
            meta, path = line.split("\t", 1)
            _mode, kind, sha, size = meta.split()
            if kind == "blob":
                self.blobs[path] = (sha, int(size) if size.isdigit() else -1)

    def _run(self, *args: str) -> str:
        out = subprocess.run(["git", "-C", str(self.git), *args], capture_output=True, check=True)
        return out.stdout.decode("utf-8", "replace")

    def read(self, path: str) -> bytes | None:
        if path not in self.blobs:
            return None
        done = subprocess.run(
            ["git", "-C", str(self.git), "cat-file", "blob", self.blobs[path][0]],
            capture_output=True,
            check=False,
        )
        return done.stdout if done.returncode == 0 else None

    def is_dir(self, path: str) -> bool:
        prefix = path.rstrip("/") + "/"
        return any(p.startswith(prefix) for p in self.blobs)

    def files_under(self, path: str) -> list[str]:
        prefix = path.rstrip("/") + "/"
        return sorted(p for p in self.blobs if p.startswith(prefix))


def _local_refs(data: Any) -> list[tuple[str, str]]:
    """(key, relative path) of every local file or folder a YAML document names."""
    out: list[tuple[str, str]] = []
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in REFERENCE_KEYS and isinstance(value, str):
                    text = value.removeprefix("file:")
                    if "${{" not in text and not _SCHEME.match(text) and text.strip():
                        out.append((str(key), text.strip()))
                else:
                    stack.append(value)
        elif isinstance(node, list):
            stack += node
    return out


def _write(dest: Path, content: bytes, rel: str, trimmed: list[str]) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if len(content) > MAX_BYTES:
        head = b"".join(content.splitlines(keepends=True)[:KEEP_LINES])
        trimmed.append(rel)
        content = head
    dest.write_bytes(content)


def collect(mirrors: Path) -> int:
    manifest = yaml.safe_load((CORPUS / "manifest.yaml").read_text(encoding="utf-8"))
    entries = manifest["files"]
    listed = {(e["repo"], e["path"]) for e in entries}
    repos: dict[tuple[str, str], Repo] = {}
    if FILES.exists():
        shutil.rmtree(FILES)
    trimmed: list[str] = []
    unlisted: set[str] = set()
    done: set[tuple[str, str]] = set()
    todo = [(e["repo"], e["commit"], e["path"]) for e in entries]
    while todo:
        name, commit, path = todo.pop()
        if (name, path) in done:
            continue
        done.add((name, path))
        repo = repos.setdefault((name, commit), Repo(mirrors, name, commit))
        content = repo.read(path)
        if content is None:
            print(f"{name}@{commit[:8]}: {path} is not there", file=sys.stderr)
            return 1
        base = FILES / name.replace("/", "+")
        _write(base / path, content, f"{name}/{path}", trimmed)
        if not path.endswith((".yml", ".yaml")):
            continue
        try:
            data = yaml.safe_load(content)
        except yaml.YAMLError:
            continue
        if isinstance(data, dict) and isinstance(data.get("nodes"), list):
            continue  # a prompt flow: its node sources are prompt flow's business, not judged
        for key, ref in _local_refs(data):
            target = posixpath.normpath(posixpath.join(posixpath.dirname(path), ref))
            if target.startswith("../") or target == posixpath.normpath(posixpath.dirname(path)):
                continue  # outside the repository, or the YAML's own folder (already there)
            if target in repo.blobs:
                if target.endswith((".yml", ".yaml")) and key != "conda_file":
                    if (name, target) not in listed:
                        unlisted.add(f"{name}: {target} (named by {path})")
                    todo.append((name, commit, target))
                elif (name, target) not in done:
                    done.add((name, target))
                    _write(base / target, repo.read(target) or b"", f"{name}/{target}", trimmed)
            elif repo.is_dir(target):
                under = repo.files_under(target)
                if key == "code":
                    names = "\n".join(p[len(target) + 1 :] for p in under)
                    note = (
                        f"The published `code:` folder {target} of {name} at {commit}; its "
                        f"files are not judged and are left out:\n{names}\n"
                    )
                    (base / target).mkdir(parents=True, exist_ok=True)
                    (base / target / "OMITTED.txt").write_text(note, encoding="utf-8")
                    continue
                sources = [p for p in under if p.lower().endswith(SOURCE_SUFFIXES)]
                for file in under:
                    if (name, file) not in done and file not in sources:
                        done.add((name, file))
                        _write(base / file, repo.read(file) or b"", f"{name}/{file}", trimmed)
                if sources:
                    names = "\n".join(p[len(target) + 1 :] for p in sources)
                    note = (
                        f"Source files of the folder {target} of {name} at {commit} (named as "
                        f"data or a build context), not judged and left out:\n{names}\n"
                    )
                    (base / target).mkdir(parents=True, exist_ok=True)
                    (base / target / "OMITTED.txt").write_text(note, encoding="utf-8")
    (CORPUS / "TRIMMED.txt").write_text(
        "Files over 64 KiB (data, never judged), cut to their first 20 lines:\n"
        + "".join(f"{t}\n" for t in sorted(trimmed)),
        encoding="utf-8",
    )
    if unlisted:
        print("referenced YAML without a manifest entry:", file=sys.stderr)
        for line in sorted(unlisted):
            print(f"  {line}", file=sys.stderr)
        return 1
    print(f"{len(entries)} entries, {len(done)} files written under {FILES.relative_to(ROOT)}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    return collect(parser.parse_args().mirrors)


if __name__ == "__main__":
    sys.exit(main())
