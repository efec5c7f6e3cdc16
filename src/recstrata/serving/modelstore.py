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
from collections.abc import Iterator
from pathlib import Path

from recstrata._atomic import atomic_write_text
from recstrata.errors import ArtifactError
from recstrata.retrieval.base import Recommender

REPORT = "report.json"


class ModelStore:
    def __init__(self, root: str | Path, name: str) -> None:
        self.root = Path(root) / name
        self.name = name

    @property
    def pointer(self) -> Path:
        return self.root / "CURRENT"

    def current(self) -> str | None:
        if not self.pointer.is_file():
            return None
        return json.loads(self.pointer.read_text())["version"]

    def publish(self, model: Recommender, *, report: dict | None = None) -> str:
        """Save ``model`` as the next version (plus ``report.json``, e.g. how it was trained and
        scored), then point ``CURRENT`` at it."""
        with self._locked():
            versions = [int(p.name) for p in self.root.glob("[0-9]*") if p.is_dir() and p.name.isdigit()]
            version = str(max(versions, default=0) + 1)
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
        version = version or self.current()
        path = self.root / str(version) / REPORT
        return json.loads(path.read_text()) if version and path.is_file() else None

    def load(self, version: str | None = None) -> tuple[Recommender, str]:
        version = version or self.current()
        if version is None:
            raise ArtifactError(f"{self.pointer} is missing: publish a model first (ModelStore.publish)")
        if not (self.root / version).is_dir():
            have = sorted((p.name for p in self.root.glob("[0-9]*") if p.is_dir() and p.name.isdigit()), key=int)
            raise ArtifactError(f"{self.root} has no version {version!r} (published: {', '.join(have) or 'none'})")
        return load_model(self.root / version), version


def load_model(directory: Path) -> Recommender:
    """A single model or a blended :class:`~recstrata.ranking.pipeline.Pipeline`, by its manifest's kind."""
    from recstrata.artifacts import read_manifest

    if read_manifest(directory, verify=False).get("kind") == "pipeline":
        from recstrata.ranking.pipeline import Pipeline

        return Pipeline.load(directory)  # type: ignore[return-value]
    return Recommender.load(directory)
