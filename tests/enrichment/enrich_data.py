"""Small hand-made catalog and users for the enrichment tests (importable by name)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recstrata.data.loaders._build import build_dataset

TITLES = ["Alien Harbor", "Blue Meadow", "Copper Train", "Dune Riders", "Echo Valley", "Frost Line",
          "Glass Garden", "Harbor Lights", "Iron Orchard", "Jade River", "Kite Summer", "Lunar Mile"]
GENRES = [("Sci-Fi", "Horror"), ("Drama",), ("Action", "Thriller"), ("Sci-Fi", "Action"), ("Drama", "Romance"),
          ("Thriller",), ("Drama",), ("Romance", "Comedy"), ("Action",), ("Drama", "Romance"), ("Comedy",),
          ("Sci-Fi",)]
USERS = pd.DataFrame({
    "user_id": ["u7001", "u7002", "u7003", "u7004"],
    "age": [37, 52, 23, 61],
    "gender": ["F", "M", "F", "M"],
    "occupation": ["librarian", "engineer", "student", "retired"],
    "zip_code": ["94117", "10027", "60614", "73301"],
})


def make_movies(titles: list[str] | None = None, users: pd.DataFrame = USERS) -> object:
    titles = titles or TITLES
    n = len(titles)
    items = pd.DataFrame({"item_id": [str(100 + i) for i in range(n)], "title": titles,
                          "genres": GENRES[:n], "year": [1980 + 2 * i for i in range(n)]})
    rng = np.random.default_rng(0)
    us, its, rs = [], [], []
    for u in range(len(users)):
        for i in rng.choice(n, size=min(7, n), replace=False):
            us.append(users.user_id[u])
            its.append(str(100 + i))
            rs.append(float(rng.integers(3, 6)))
    return build_dataset("movies", users=np.array(us, object), items=np.array(its, object), ratings=np.array(rs),
                         timestamps=np.arange(len(us), dtype=np.int64), item_table=items, user_table=users)


