"""Versioned model artefacts: ``<runs>/<name>/<version>/`` and an atomic ``CURRENT`` pointer.

Publishing writes the new version completely, then swaps the pointer with one rename; a reader
(the server's reload) follows the pointer and loads a hash-checked artefact. Publishers are
serialised by an exclusive lock on ``<runs>/<name>/.publish.lock`` (``flock``), so two trainings
publishing to one name at once get distinct versions and ``CURRENT`` ends at the newer one (POSIX,
local file systems: ``flock`` is advisory and may not be shared across NFS clients).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import re
from collections.abc import Iterator
from pathlib import Path

from recstrata._atomic import atomic_write_text
from recstrata.errors import ArtifactError
from recstrata.retrieval.base import Recommender

REPORT = "report.json"
#: a version as ``publish`` writes it: a positive integer in a string (never a path)
VERSION = re.compile(r"[1-9][0-9]{0,17}")


class ModelStore:
    def __init__(self, root: str | Path, name: str) -> None:
        self.root = Path(root) / name
        self.name = name

    @property
    def pointer(self) -> Path:
        return self.root / "CURRENT"

    def current(self) -> str | None:
        """The version ``CURRENT`` names; None when nothing is published. A pointer that is not
        ``{"version": "<n>"}`` (hand-edited, truncated) raises ``ArtifactError`` naming it."""
        try:
            text = self.pointer.read_text()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise ArtifactError(f"{self.pointer} cannot be read ({exc}): {self._fix()}") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            what = "is empty" if not text.strip() else f"is not valid JSON ({exc})"
            raise ArtifactError(f"{self.pointer} {what}: {self._fix()}") from exc
        if not isinstance(data, dict) or "version" not in data:
            raise ArtifactError(f"{self.pointer} names no version (it holds {text[:80]!r}): {self._fix()}")
        return self._checked(data["version"], self.pointer)

    def versions(self) -> list[str]:
        """The published version directories, oldest first."""
        return sorted((p.name for p in self.root.glob("[0-9]*") if p.is_dir() and VERSION.fullmatch(p.name)), key=int)

    def _fix(self) -> str:
        return (f'CURRENT must hold {{"version": "<n>"}} naming a published version (here: '
                f'{", ".join(self.versions()) or "none"}): write one of those into it, or publish again (recstrata train)')

    def _checked(self, version: object, where: object) -> str:
        """``version`` if it is one ``publish`` could have written; a path such as ``../x/1`` never is."""
        if isinstance(version, str) and VERSION.fullmatch(version):
            return version
        raise ArtifactError(f"{where}: version {version!r} is not a positive integer in a string such as \"3\"; "
                            f"{self._fix()}")

    def publish(self, model: Recommender, *, report: dict | None = None) -> str:
        """Save ``model`` as the next version (plus ``report.json``, e.g. how it was trained and
        scored), then point ``CURRENT`` at it."""
        with self._locked():
            version = str(max(map(int, self.versions()), default=0) + 1)
            model.save(self.root / version)
            if report is not None:
                atomic_write_text(self.root / version / REPORT, json.dumps(report | {"version": version}, indent=2,
                                                                              sort_keys=True, default=str))
            atomic_write_text(self.pointer, json.dumps({"version": version}))
        return version

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the store's exclusive publish lock (released when the process dies, too)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".publish.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def report(self, version: str | None = None) -> dict | None:
        """The ``report.json`` published with ``version`` (default: current), or None."""
        version = self.current() if version is None else self._checked(version, self.root)
        path = self.root / str(version) / REPORT
        return json.loads(path.read_text()) if version and path.is_file() else None

    def load(self, version: str | None = None) -> tuple[Recommender, str]:
        version = self.current() if version is None else self._checked(version, self.root)
        if version is None:
            raise ArtifactError(f"{self.pointer} is missing: publish a model first (ModelStore.publish)")
        if not (self.root / version).is_dir():
            raise ArtifactError(f"{self.root} has no version {version!r} (published: "
                                f"{', '.join(self.versions()) or 'none'})")
        return load_model(self.root / version), version


def load_model(directory: Path) -> Recommender:
    """A single model or a blended :class:`~recstrata.ranking.pipeline.Pipeline`, by its manifest's kind."""
    from recstrata.artifacts import read_manifest

    if read_manifest(directory, verify=False).get("kind") == "pipeline":
        from recstrata.ranking.pipeline import Pipeline

        return Pipeline.load(directory)  # type: ignore[return-value]
    return Recommender.load(directory)
