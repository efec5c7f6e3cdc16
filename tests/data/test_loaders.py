"""Loaders: real files load; bad input raises DataError naming file, line and column."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from recstrata.data.loaders.movielens import load_movielens_100k, load_movielens_latest_small
from recstrata.data.loaders.recbole import load_recbole_atomic
from recstrata.data.loaders.tabular import load_interactions_table, load_item_table
from recstrata.data.registry import load_dataset
from recstrata.errors import DataError


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_ml100k_atomic_files_with_known_glitches(ml100k):
    assert (len(ml100k), ml100k.n_users, ml100k.n_items) == (100_000, 943, 1682)
    items = ml100k.items.set_index("item_id")
    assert items.loc["267", "title"] is None and items.loc["267", "year"] is pd_na()
    assert items.loc["1412", "year"] is pd_na() and items.loc["1412", "title"]
    assert items.loc["1", "genres"] == ("Animation", "Children's", "Comedy")
    assert set(ml100k.users["gender"]) == {"M", "F"}
    assert (ml100k.users["gender"] == "M").sum() == 670
    assert ml100k.rating_scale == (1.0, 5.0)


def pd_na():
    import pandas as pd

    return pd.NA


def test_bundled_latest_small_is_the_offline_default():
    ds = load_dataset("ml-latest-small")
    assert (len(ds), ds.n_users, ds.n_items) == (100_836, 610, 9742)
    first = ds.items.iloc[0]
    assert (first["title"], int(first["year"])) == ("Toy Story", 1995)
    assert "Animation" in first["genres"]


def test_id_maps_are_stable_and_round_trip(ml100k):
    idx = ml100k.item_ids.to_index(["50", "1"])
    assert list(ml100k.item_ids.to_external(idx)) == ["50", "1"]
    with pytest.raises(DataError, match="unknown item id"):
        ml100k.item_ids.to_index(["99999"])
    assert list(ml100k.item_ids.to_index(["99999"], missing="mask")) == [-1]


def test_csv_with_column_mapping_and_iso_timestamps(tmp_path):
    path = write(tmp_path, "events.csv", "uid,iid,stars,when\na,x,4,2024-01-01T00:00:00Z\nb,y,5,1700000000\n")
    ds = load_interactions_table(path, columns={"user": "uid", "item": "iid", "rating": "stars", "timestamp": "when"})
    assert (ds.n_users, ds.n_items, len(ds)) == (2, 2, 2)
    assert ds.interactions.timestamp.tolist() == [1704067200, 1700000000]
    assert ds.interactions.weight.tolist() == [4.0, 5.0]


def test_jsonl_and_parquet(tmp_path):
    path = write(tmp_path, "e.jsonl", '{"user_id": 1, "item_id": 10}\n{"user_id": 2, "item_id": 10}\n')
    ds = load_interactions_table(path)
    assert ds.n_items == 1 and ds.n_users == 2
    import pandas as pd

    pq = tmp_path / "e.parquet"
    pd.DataFrame({"user_id": ["u1", "u2"], "item_id": ["i1", "i2"], "rating": [1.5, 2.0]}).to_parquet(pq)
    ds = load_interactions_table(pq)
    assert ds.interactions.weight.tolist() == [1.5, 2.0]


@pytest.mark.parametrize(
    ("text", "kwargs", "match", "line", "column"),
    [
        ("user_id,item_id,rating\n1,2,4\n1,3,abc\n", {}, "not a number", 3, "rating"),
        ("user_id,item_id,timestamp\n1,2,yesterday-ish\n", {}, "not a timestamp", 2, "timestamp"),
        ("user,item\n1,2\n", {}, "missing column", None, "user_id"),
        ("user_id;item_id\n1;2\n", {}, "semicolon-delimited", None, "user_id"),
        ("user_id,item_id\n", {}, "no rows", None, None),
        ("user_id,item_id\n1,\n", {}, "empty id", 2, "item_id"),
    ],
)
def test_bad_interaction_files(tmp_path, text, kwargs, match, line, column):
    path = write(tmp_path, "bad.csv", text)
    with pytest.raises(DataError, match=match) as err:
        load_interactions_table(path, **kwargs)
    assert err.value.file == str(path)
    assert err.value.row == line
    assert err.value.column == column
    assert "bad.csv" in str(err.value)


def test_empty_file(tmp_path):
    with pytest.raises(DataError, match="empty"):
        load_interactions_table(write(tmp_path, "e.csv", ""))


def test_duplicate_item_ids_and_unknown_items(tmp_path):
    items = load_item_table(write(tmp_path, "items.csv", "item_id,title\n1,A\n2,B\n"))
    with pytest.raises(DataError, match="duplicate item id '1'") as err:
        load_interactions_table(
            write(tmp_path, "e.csv", "user_id,item_id\n1,1\n"),
            items=load_item_table(write(tmp_path, "dup.csv", "item_id,title\n1,A\n1,B\n")),
        )
    assert err.value.row == 3
    events = write(tmp_path, "ev.csv", "user_id,item_id\n1,1\n1,7\n")
    with pytest.raises(DataError, match="'7' is not in the item catalog") as err:
        load_interactions_table(events, items=items)
    assert err.value.row == 3 and err.value.column == "item_id"
    ds = load_interactions_table(events, items=items, unknown_items="drop")
    assert len(ds) == 1 and ds.meta["dropped_unknown_items"] == 1


def test_recbole_atomic_wrong_delimiter(tmp_path):
    d = tmp_path / "toy"
    d.mkdir()
    (d / "toy.inter").write_text("user_id:token,item_id:token\n1,2\n")
    with pytest.raises(DataError, match="tab-separated"):
        load_recbole_atomic(d)


def test_grouplens_zip_layout(tmp_path):
    """The original GroupLens layout (u.data / u.item / u.user) as in the official zip."""
    flags = lambda *on: "|".join("1" if i in on else "0" for i in range(19))  # noqa: E731
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("ml-100k/u.data", "1\t1\t5\t874965758\n2\t2\t3\t876893171\n1\t2\t4\t878542960\n")
        zf.writestr("ml-100k/u.item", f"1|Toy Story (1995)|01-Jan-1995||http://x|{flags(3, 4, 5)}\n"
                                      f"2|unknown||||{flags(0)}\n")
        zf.writestr("ml-100k/u.user", "1|24|M|technician|85711\n2|53|F|other|94043\n")
    path = tmp_path / "ml-100k.zip"
    path.write_bytes(buf.getvalue())
    ds = load_movielens_100k(path)
    assert (len(ds), ds.n_users, ds.n_items) == (3, 2, 2)
    assert load_dataset(path).items["title"].tolist() == ["Toy Story", None]  # the zip as a dataset path
    assert ds.items["genres"].tolist() == [("Animation", "Children's", "Comedy"), ()]
    assert ds.items["title"].tolist() == ["Toy Story", None]
    assert ds.users["age"].tolist() == [24, 53]


def test_latest_small_from_a_directory(tmp_path):
    (tmp_path / "movies.csv").write_text('movieId,title,genres\n1,"Heat (1995)",Action|Crime\n2,Odd,(no genres listed)\n')
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.5,964982703\n2,2,3.0,964982224\n")
    ds = load_movielens_latest_small(tmp_path)
    assert ds.items["year"].tolist()[0] == 1995 and ds.items["genres"].tolist() == [("Action", "Crime"), ()]
    assert np.isclose(ds.interactions.weight, [4.5, 3.0]).all()


def test_load_dataset_errors(tmp_path):
    with pytest.raises(DataError, match="neither a known dataset name"):
        load_dataset("no-such-dataset")
    with pytest.raises(DataError, match="don't know how to read directory"):
        load_dataset(tmp_path)


def test_missing_columns_say_how_to_name_them_from_the_command_line_and_map_them_from_python(tmp_path):
    path = write(tmp_path, "x.csv", "a,b\n1,2\n")
    with pytest.raises(DataError, match=r"Name the header's columns user_id and item_id .*the command line.*"
                                        r"load_dataset\(path, columns=\{'user': \.\.\.") as err:
        load_interactions_table(path)
    assert "columns=" not in str(err.value).split("load_dataset")[0]  # no Python-only advice stands alone
