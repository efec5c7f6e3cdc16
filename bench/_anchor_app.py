"""The bare anchor for the load test: FastAPI, one faiss HNSW top-100 search (ef 128) per request.

    uvicorn --app-dir bench _anchor_app:app   (N_ITEMS / DIM env vars size the random catalog)
"""

from __future__ import annotations

import os

import faiss
import numpy as np
from fastapi import FastAPI

N = int(os.environ.get("N_ITEMS", "100000"))
D = int(os.environ.get("DIM", "64"))
rng = np.random.default_rng(0)
vectors = rng.standard_normal((N, D)).astype(np.float32)
faiss.normalize_L2(vectors)
index = faiss.IndexHNSWFlat(D, 32, faiss.METRIC_INNER_PRODUCT)
index.hnsw.efConstruction = 40
index.add(vectors)
index.hnsw.efSearch = 128
users = rng.standard_normal((1000, D)).astype(np.float32)
app = FastAPI()


@app.get("/v1/users/{user_id}/recommendations")
def recommend(user_id: int, k: int = 10) -> dict:  # sync: faiss releases the GIL in the thread pool
    _, ids = index.search(users[user_id % 1000 : user_id % 1000 + 1], 100)
    return {"items": ids[0, :k].tolist()}
