"""A light learned ranker: LightGBM with the LambdaRank objective (Burges, "From RankNet to
LambdaRank to LambdaMART: An Overview", MSR-TR-2010-82; Ke et al., "LightGBM", NeurIPS 2017).

    ranker = LambdaRanker(num_leaves=31).fit(X, y, groups, valid=(X_es, y_es, groups_es))
    scores = ranker.predict(X_request)          # (n_rows,) float64; higher = better
    ranker.save("runs/ranker/1");  ranker = LambdaRanker.load("runs/ranker/1")

One group = the candidates of one request (user). Early stopping watches NDCG@``eval_at`` on a
held-out group set. Saved as LightGBM's own text model (``model.txt``) + the project manifest:
never a pickle. ``predict`` uses a fixed thread count (1 by default: for a single request of
~1000 rows, thread start-up costs more than it saves).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recstrata._atomic import atomic_directory
from recstrata._optional import require
from recstrata.artifacts import read_manifest, write_manifest
from recstrata.errors import ConfigError, NotFittedError


#: LambdaRank by default; XE-NDCG (Bruch, ICTIR 2021) and pointwise binary as alternatives
OBJECTIVES = ("lambdarank", "rank_xendcg", "binary")


def _lightgbm():
    return require("lightgbm", extra="rank", purpose="the learned ranker")


class LambdaRanker:
    """Gradient-boosted trees trained with LambdaRank on grouped (request, candidate) rows."""

    def __init__(
        self,
        num_leaves: int = 31,
        learning_rate: float = 0.05,
        n_estimators: int = 1000,
        min_data_in_leaf: int = 50,
        feature_fraction: float = 0.8,
        bagging_fraction: float = 0.8,
        lambda_l2: float = 1.0,
        eval_at: int = 10,
        early_stopping_rounds: int = 50,
        train_threads: int = 2,
        predict_threads: int = 1,
        seed: int = 2020,
        objective: str = "lambdarank",
    ) -> None:
        self.objective = objective
        self.num_leaves = num_leaves
        self.learning_rate = learning_rate
        self.n_estimators = n_estimators
        self.min_data_in_leaf = min_data_in_leaf
        self.feature_fraction = feature_fraction
        self.bagging_fraction = bagging_fraction
        self.lambda_l2 = lambda_l2
        self.eval_at = eval_at
        self.early_stopping_rounds = early_stopping_rounds
        self.train_threads = train_threads
        self.predict_threads = predict_threads
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        import inspect

        return {p: getattr(self, p) for p in inspect.signature(type(self).__init__).parameters if p != "self"}

    def __repr__(self) -> str:
        return f"LambdaRanker({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"

    def _lgb_params(self) -> dict[str, Any]:
        if self.objective not in OBJECTIVES:
            raise ConfigError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        return {
            "objective": self.objective,
            "metric": "ndcg",
            "eval_at": [self.eval_at],
            "num_leaves": self.num_leaves,
            "learning_rate": self.learning_rate,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1 if self.bagging_fraction < 1 else 0,
            "lambda_l2": self.lambda_l2,
            "num_threads": self.train_threads,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }

    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        groups: Sequence[int] | np.ndarray,
        *,
        valid: tuple[np.ndarray, np.ndarray, Sequence[int] | np.ndarray] | None = None,
        feature_names: Sequence[str] | None = None,
    ) -> LambdaRanker:
        """Train on rows ``x`` with relevance ``y``; ``groups`` = rows per request, in order.

        ``valid`` = (x, y, groups) of held-out requests for early stopping (strongly advised).
        """
        lgb = _lightgbm()
        groups = np.asarray(groups, np.int64)
        if x.shape[0] != len(y) or groups.sum() != len(y):
            raise ConfigError(f"x has {x.shape[0]} rows, y {len(y)}, groups sum to {groups.sum()}: they must agree")
        names = list(feature_names) if feature_names is not None else [f"f{j}" for j in range(x.shape[1])]
        names = [n.replace(":", "__") for n in names]  # LightGBM forbids some characters in names
        train = lgb.Dataset(x, label=y, group=groups, feature_name=names, free_raw_data=True)
        sets, callbacks = [train], []
        if valid is not None:
            vx, vy, vg = valid
            sets.append(lgb.Dataset(vx, label=vy, group=np.asarray(vg, np.int64), reference=train))
            callbacks.append(lgb.early_stopping(self.early_stopping_rounds, verbose=False))
        record: dict = {}
        callbacks.append(lgb.record_evaluation(record))
        self.booster_ = lgb.train(self._lgb_params(), train, num_boost_round=self.n_estimators,
                                  valid_sets=sets, valid_names=["train", "valid"][: len(sets)], callbacks=callbacks)
        self.best_iteration_ = int(self.booster_.best_iteration or self.booster_.current_iteration())
        key = f"ndcg@{self.eval_at}"
        self.valid_ndcg_ = (float(record["valid"][key][self.best_iteration_ - 1])
                            if valid is not None else float("nan"))
        self.feature_names_ = list(feature_names) if feature_names is not None else names
        return self

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "booster_")

    def predict(self, x, feature_names: Sequence[str] | None = None) -> np.ndarray:
        """Scores for rows of ``x`` (converted once to a C-contiguous float32 array).

        With ``feature_names`` (or a pandas DataFrame, whose string columns name them) the columns are
        matched to the training features by name — reordered if they come in another order, an
        error naming the missing and unexpected ones otherwise. A bare array is taken to be in
        training order (only its width can be checked)."""
        if not self.is_fitted:
            raise NotFittedError("LambdaRanker is not fitted: call fit(...) or LambdaRanker.load(dir)")
        named = [c for c in getattr(x, "columns", ()) if isinstance(c, str)]
        if named and len(named) == len(x.columns):  # a DataFrame with named columns (not 0..F-1)
            if feature_names is not None and list(feature_names) != named:
                raise ConfigError("feature_names differ from the DataFrame's own column names: pass one of them")
            feature_names = named
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2:
            raise ConfigError(f"the ranker scores a 2-d (rows, features) array, got shape {x.shape}")
        if feature_names is not None:
            x = x[:, self._column_order(list(feature_names), x.shape[1])]
        elif x.shape[1] != len(self.feature_names_):
            raise ConfigError(f"the ranker was trained on {len(self.feature_names_)} features, got {x.shape[1]}")
        return self.booster_.predict(np.ascontiguousarray(x), num_iteration=self.best_iteration_,
                                     num_threads=self.predict_threads)

    def _column_order(self, names: list[str], width: int) -> slice | list[int]:
        """Indices that put columns named ``names`` in training order (a no-op slice when they are)."""
        if len(names) != width:
            raise ConfigError(f"{len(names)} feature names for {width} columns")
        if names == self.feature_names_:
            return slice(None)
        missing = [n for n in self.feature_names_ if n not in names]
        extra = [n for n in names if n not in self.feature_names_]
        if missing or extra or len(set(names)) != len(names):
            raise ConfigError(f"the ranker was trained on features {self.feature_names_}; missing {missing}, "
                              f"unexpected {extra}{', duplicated names' if len(set(names)) != len(names) else ''}: "
                              "build the features with the same sources and options")
        at = {n: j for j, n in enumerate(names)}
        return [at[n] for n in self.feature_names_]

    def feature_importance(self) -> dict[str, float]:
        """Total gain per feature, largest first."""
        gain = self.booster_.feature_importance("gain", iteration=self.best_iteration_)
        return dict(sorted(zip(self.feature_names_, map(float, gain)), key=lambda kv: -kv[1]))

    # ---- persistence -------------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike[str]) -> Path:
        """``model.txt`` (LightGBM text format) + ``manifest.json``, written atomically."""
        if not self.is_fitted:
            raise NotFittedError("LambdaRanker is not fitted: nothing to save")
        with atomic_directory(directory) as tmp:
            (tmp / "model.txt").write_text(
                self.booster_.model_to_string(num_iteration=self.best_iteration_), encoding="utf-8")
            write_manifest(tmp, kind="ranker", params=self.get_params(),
                           extra={"feature_names": self.feature_names_, "best_iteration": self.best_iteration_,
                                  "valid_ndcg": self.valid_ndcg_})
        return Path(directory)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> LambdaRanker:
        lgb = _lightgbm()
        root = Path(directory)
        manifest = read_manifest(root, kind="ranker")
        ranker = cls(**manifest["params"])
        ranker.booster_ = lgb.Booster(model_str=(root / "model.txt").read_text("utf-8"))
        ranker.feature_names_ = list(manifest["feature_names"])
        ranker.best_iteration_ = int(manifest["best_iteration"])
        ranker.valid_ndcg_ = float(manifest["valid_ndcg"])
        return ranker
