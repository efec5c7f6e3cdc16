"""Messy user files: each loads correctly or raises a DataError naming the file (and line / column where
one is at fault), never a raw pandas / numpy / zip traceback and never silently shifted or dropped data."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest

from recstrata.data.loaders.recbole import load_recbole_atomic
from recstrata.data.registry import load_dataset
from recstrata.errors import DataError


def write(tmp_path, name: str, data: str | bytes):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data)
    return path


def fails(path, match: str, row: int | None = None, column: str | None = None, file=None) -> DataError:
    with pytest.raises(DataError, match=match) as err:
        load_dataset(path)
    assert err.value.file == str(file or path)
    assert (err.value.row, err.value.column) == (row, column)
    return err.value


def test_a_row_longer_than_the_header_is_refused_not_shifted_into_an_index(tmp_path):
    # pandas would take the surplus leading fields as an index: user 3, item 4 instead of an error
    fails(write(tmp_path, "x.csv", "user_id,item_id\n1,2,3,4\n1,5\n"), "4 fields but the header has 2", row=2)


def test_rows_with_a_trailing_delimiter_are_told_to_drop_it(tmp_path):
    fails(write(tmp_path, "x.csv", "user_id,item_id,rating\n1,2,3,\n1,5,4,\n"),
          "4 fields but the header has 3: remove the trailing delimiter \\(','\\)", row=2)


def test_a_later_ragged_row_names_its_line(tmp_path):
    fails(write(tmp_path, "x.csv", "user_id,item_id\n1,2\n1,2,3\n"), "Expected 2 fields in line 3, saw 3.*quote", row=3)


def test_non_utf8_bytes_name_the_line_and_say_to_save_as_utf8(tmp_path):
    fails(write(tmp_path, "x.csv", "user_id,item_id\n1,2\n1,caf\xe9\n".encode("latin-1")), "not UTF-8.*UTF-8", row=3)


def test_a_file_named_gz_that_is_not_gzip(tmp_path):
    fails(write(tmp_path, "x.csv.gz", b"user_id,item_id\n1,2\n"),
          r"could not decompress the file \(Not a gzipped file.*rename it without '.gz'")


def test_gzip_files_load(tmp_path):
    ds = load_dataset(write(tmp_path, "x.csv.gz", gzip.compress(b"user_id,item_id\n1,2\n")))
    assert (len(ds), list(ds.item_ids.external)) == (1, ["2"])


def test_a_blank_file_has_no_header(tmp_path):
    fails(write(tmp_path, "x.csv", "\n\n"), "no header")


@pytest.mark.parametrize(("inter", "match", "row"), [
    ("user_id:token\titem_id:token\n1\t2\n1\t2\t3\n", "Expected 2 fields in line 3.*unquoted", 3),
    (b"user_id:token\titem_id:token\n1\t\xff\n", "not UTF-8", 2),
    ("\n", "no header", None),
])
def test_recbole_atomic_files_that_do_not_parse(tmp_path, inter, match, row):
    path = write(tmp_path, "toy/toy.inter", inter)
    with pytest.raises(DataError, match=match) as err:
        load_recbole_atomic(tmp_path / "toy")
    assert (err.value.file, err.value.row) == (str(path), row)


def test_a_broken_json_line_in_the_middle_is_named(tmp_path):
    fails(write(tmp_path, "x.jsonl", '{"user_id": 1, "item_id": 2}\n{"user_id": 2,\n{"user_id": 3, "item_id": 4}\n'),
          "not a JSON object", row=2)


def test_json_lines_with_a_byte_order_mark_load_and_later_lines_are_still_numbered(tmp_path):
    ds = load_dataset(write(tmp_path, "x.jsonl", '\ufeff{"user_id": 1, "item_id": 2}\n{"user_id": 3, "item_id": 4}\n'))
    assert (list(ds.user_ids.external), list(ds.item_ids.external)) == (["1", "3"], ["2", "4"])
    fails(write(tmp_path, "y.jsonl", '\ufeff{"user_id": 1, "item_id": 2}\n{"user_id": 3,\n'), "not a JSON object", row=2)


@pytest.mark.parametrize("line", ["[3, 4]", "3"])
def test_a_json_line_that_is_not_an_object_is_named(tmp_path, line):
    fails(write(tmp_path, "x.jsonl", f'{{"user_id": 1, "item_id": 2}}\n{line}\n'), "not a JSON object", row=2)


def test_json_lines_have_no_header_so_record_n_is_line_n(tmp_path):
    fails(write(tmp_path, "x.jsonl", '{"user_id": 1, "item_id": null}\n'), "empty id", row=1, column="item_id")
    fails(write(tmp_path, "y.jsonl", '{"user_id": 1, "item_id": 2}\n{"user_id": 1, "item_id": 3, "rating": "x"}\n'),
          "not a number", row=2, column="rating")


def test_parquet_keeps_ids_spelled_like_missing_values_and_numbers_rows_from_1(tmp_path):
    path = tmp_path / "x.parquet"
    pd.DataFrame({"user_id": ["None", "nan"], "item_id": ["a", "b"]}).to_parquet(path)
    assert list(load_dataset(path).user_ids.external) == ["None", "nan"]
    pd.DataFrame({"user_id": ["u1", None], "item_id": ["a", "b"]}).to_parquet(path)
    fails(path, "empty id", row=2, column="user_id")


@pytest.mark.parametrize(("value", "match"), [
    ("inf", "not a finite number"),
    ("-inf", "not a finite number"),
    ("1e300", "too large"),
])
def test_ratings_must_be_finite_float32_values(tmp_path, value, match):
    fails(write(tmp_path, "x.csv", f"user_id,item_id,rating\n1,2,4\n1,3,{value}\n"), match, row=3, column="rating")


@pytest.mark.parametrize("value", ["1e30", "inf", "-1e20"])
def test_timestamps_out_of_int64_range_are_refused_not_wrapped_to_missing(tmp_path, value):
    fails(write(tmp_path, "x.csv", f"user_id,item_id,timestamp\n1,2,5\n1,3,{value}\n"), "out of range",
          row=3, column="timestamp")


@pytest.mark.parametrize(("year", "match"), [("1995.5", "not a whole-number year"), ("1e30", "not a year"),
                                            ("V", "'V' is not a year")])
def test_item_years_that_are_not_years(tmp_path, year, match):
    from recstrata.data.loaders.tabular import load_item_table

    path = write(tmp_path, "items.csv", f"item_id,title,year\n1,A,1995\n2,B,{year}\n")
    with pytest.raises(DataError, match=match) as err:
        load_item_table(path)
    assert (err.value.file, err.value.row, err.value.column) == (str(path), 3, "year")


def test_recbole_item_years_that_are_not_years_load_as_missing(tmp_path):
    # ML-100K's RecBole item file has a year of 'V': a known glitch, kept as missing rather than failing
    write(tmp_path, "rb/rb.inter", "user_id:token\titem_id:token\n1\t1\n")
    write(tmp_path, "rb/rb.item", "item_id:token\trelease_year:token\n1\t1995\n2\tV\n3\t\n4\t1995.5\n")
    assert load_dataset(tmp_path / "rb").items["year"].tolist() == [1995, pd.NA, pd.NA, pd.NA]


def test_a_duplicate_item_id_is_reported_in_the_item_file_not_the_interaction_file(tmp_path):
    from recstrata.data.loaders.tabular import load_interactions_table, load_item_table

    items = write(tmp_path, "items.csv", "item_id,title\n1,A\n2,B\n1,C\n")
    with pytest.raises(DataError, match="duplicate item id '1'") as err:
        load_interactions_table(write(tmp_path, "e.csv", "user_id,item_id\n1,1\n"), items=load_item_table(items))
    assert (err.value.file, err.value.row, err.value.column) == (str(items), 4, "item_id")
    write(tmp_path, "rb/rb.inter", "user_id:token\titem_id:token\n1\t2\n")
    item_file = write(tmp_path, "rb/rb.item", "item_id:token\tmovie_title:token_seq\n2\tX\n2\tY\n")
    fails(tmp_path / "rb", "duplicate item id '2'", row=3, column="item_id", file=item_file)


def test_a_duplicate_in_an_item_table_built_in_python_names_its_row_not_a_file(tmp_path):
    from recstrata.data.loaders.tabular import load_interactions_table

    events = write(tmp_path, "e.csv", "user_id,item_id\n1,1\n")
    with pytest.raises(DataError, match=r"duplicate item id '1' at row 2 of the item table \(also row 1\)") as err:
        load_interactions_table(events, items=pd.DataFrame({"item_id": ["1", "1"]}))
    assert err.value.file is None


def test_json_item_nulls_are_missing_and_genre_lists_are_lists(tmp_path):
    from recstrata.data.loaders.tabular import load_item_table

    path = write(tmp_path, "items.jsonl", '{"item_id": 1, "title": null, "genres": null, "text": null}\n'
                                          '{"item_id": 2, "title": "B", "genres": ["Drama", "War"]}\n'
                                          '{"item_id": 3, "title": "C", "genres": "Comedy|Crime"}\n')
    items = load_item_table(path)
    assert items["title"].tolist() == [None, "B", "C"]
    assert items["genres"].tolist() == [(), ("Drama", "War"), ("Comedy", "Crime")]
    assert items["text"].tolist() == ["", "", ""]


def _flags(*on: int) -> str:
    return "|".join("1" if i in on else "0" for i in range(19))


def grouplens_dir(tmp_path, data="1\t1\t5\t874965758\n", item=None, user="1|24|M|technician|85711\n"):
    d = tmp_path / "gl"
    write(tmp_path, "gl/u.data", data)
    if item is not False:
        write(tmp_path, "gl/u.item", item or f"1|Toy Story (1995)|01-Jan-1995||http://x|{_flags(3)}\n")
    if user is not False:
        write(tmp_path, "gl/u.user", user)
    return d


def test_grouplens_folder_missing_a_file(tmp_path):
    d = grouplens_dir(tmp_path, item=False)
    fails(d, "u.item is missing.*u.data, u.item and u.user", file=d / "u.item")


@pytest.mark.parametrize(("data", "match", "row", "column"), [
    ("1\t1\t5\t874965758\n1\t1\tx\t874965759\n", "'x' is not a number", 2, "rating"),
    ("1\t1\t5\t874965758\n1\t1\t5\n", "missing value", 2, "timestamp"),
    ("1\t1\t5\t874965758\n1\t9\t5\t874965759\n", "'9' is not in the item catalog", 2, "item_id"),
])
def test_grouplens_bad_rows_name_the_line_of_u_data(tmp_path, data, match, row, column):
    d = grouplens_dir(tmp_path, data=data)
    fails(d, match, row=row, column=column, file=d / "u.data")


def test_grouplens_item_file_with_too_few_fields_and_duplicates(tmp_path):
    d = grouplens_dir(tmp_path, item="1|Toy Story (1995)\n")
    fails(d, "2 fields.*24", file=d / "u.item")
    d = grouplens_dir(tmp_path, item=f"1|A (1995)|||x|{_flags(3)}\n1|B (1996)|||x|{_flags(4)}\n")
    fails(d, "duplicate item id '1'", row=2, column="item_id", file=d / "u.item")
    # a short line after full ones: pandas pads it, so the item would load without its genres
    d = grouplens_dir(tmp_path, item=f"1|A (1995)|||x|{_flags(3)}\n2|B (1996)|||x|0|1|0\n")
    fails(d, "genre flag '' is not 0 or 1.*short", row=2, column="Animation", file=d / "u.item")


def test_grouplens_zip_that_is_broken_or_laid_out_otherwise(tmp_path):
    import io
    import zipfile

    from recstrata.data.loaders.movielens import load_movielens_100k

    bad = write(tmp_path, "ml-100k.zip", b"not a zip")
    with pytest.raises(DataError, match="not a readable zip") as err:
        load_movielens_100k(bad)
    assert err.value.file == str(bad)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("other/u.data", "1\t1\t5\t1\n")
    other = write(tmp_path, "other.zip", buf.getvalue())
    with pytest.raises(DataError, match="ml-100k/u.data is missing") as err:
        load_movielens_100k(other)
    assert err.value.file == str(other)


def test_dropping_every_unknown_item_leaves_no_interactions_and_says_so(tmp_path):
    from recstrata.data.loaders.tabular import load_interactions_table, load_item_table

    items = load_item_table(write(tmp_path, "items.csv", "item_id,title\n1,A\n"))
    for text in ("user_id,item_id,rating\n1,7,4\n", "user_id,item_id\n1,7\n"):
        events = write(tmp_path, "e.csv", text)
        with pytest.raises(DataError, match="no interactions left.*1 row") as err:
            load_interactions_table(events, items=items, unknown_items="drop")
        assert err.value.file == str(events)


def test_duplicate_user_ids_name_the_user_file_or_the_row(tmp_path):
    from recstrata.data.loaders.tabular import load_interactions_table

    write(tmp_path, "rb/rb.inter", "user_id:token\titem_id:token\n1\t2\n")
    users = write(tmp_path, "rb/rb.user", "user_id:token\tage:token\n1\t30\n1\t40\n")
    fails(tmp_path / "rb", "duplicate user id '1' \\(also on line 2\\)", row=3, column="user_id", file=users)
    with pytest.raises(DataError, match="duplicate user id '1' at row 2 of the user table"):
        load_interactions_table(write(tmp_path, "e.csv", "user_id,item_id\n1,1\n"),
                                users=pd.DataFrame({"user_id": ["1", "1"]}))


def test_a_column_named_twice_in_the_header_is_refused(tmp_path):
    # pandas renames the second to item_id.1 and the first would be used silently
    fails(write(tmp_path, "x.csv", "user_id,item_id,item_id\n1,2,3\n"), "'item_id' twice", row=1, column="item_id")
    fails(write(tmp_path, "y.csv", "user_id,item_id,tag,tag\n1,2,a,b\n"), "'tag' twice", row=1, column="tag")


@pytest.mark.parametrize(("name", "data"), [
    # "tag.1" next to "tag" is what pandas makes of a repeat, but here the file itself says so
    ("x.csv", "user_id,item_id,rating,tag,tag.1\n1,2,4,a,b\n3,4,5,c,d\n"),
    ("x.csv", "user_id,item_id,rating,score,score.2020\n1,2,4,0,1\n3,4,5,0,1\n"),
    ("x.csv.gz", gzip.compress(b"user_id,item_id,rating,tag,tag.1\n1,2,4,a,b\n3,4,5,c,d\n")),
    ("x.csv", "user_id,item_id,rating\n1,2,4\n3,4,5"),  # no newline at the end
    ("x.csv", "user_id,item_id,rating\r\n1,2,4\r\n3,4,5\r\n"),
    ("x.csv", "\ufeffuser_id,item_id,rating\n1,2,4\n3,4,5\n"),
    ("x.csv", '"user_id","item_id","rating","a,b","a;b"\n1,2,4,x,y\n3,4,5,x,y\n'),
    ("x.tsv", "user_id\titem_id\trating\ttag\ttag.1\n1\t2\t4\ta\tb\n3\t4\t5\tc\td\n"),
])
def test_valid_files_still_load(tmp_path, name, data):
    ds = load_dataset(write(tmp_path, name, data))
    assert list(ds.user_ids.external) == ["1", "3"]
    assert list(ds.item_ids.external) == ["2", "4"]
    assert ds.interactions.weight.tolist() == [4.0, 5.0]


def test_a_recbole_field_named_twice_with_different_types_is_refused(tmp_path):
    write(tmp_path, "rb/rb.inter", "user_id:token\titem_id:token\trating:float\trating:token\n1\t2\t4\tx\n")
    fails(tmp_path / "rb", "'rating' twice", row=1, column="rating", file=tmp_path / "rb" / "rb.inter")


@pytest.mark.parametrize("value", ["[1, 2]", '{"a": 1}'])
def test_json_ids_must_be_scalars(tmp_path, value):
    fails(write(tmp_path, "x.jsonl", f'{{"user_id": 1, "item_id": 2}}\n{{"user_id": 1, "item_id": {value}}}\n'),
          "not an id", row=2, column="item_id")


def test_dates_far_from_now_convert_to_seconds_without_overflow(tmp_path):
    # pandas 3 holds these dates; the conversion to seconds used a nanosecond divisor and crashed
    ds = load_dataset(write(tmp_path, "x.csv", "user_id,item_id,timestamp\n1,2,1969-12-31T23:59:59Z\n"
                                               "1,3,3000-01-01\n1,4,1600-01-01\n"))
    assert ds.interactions.timestamp.tolist() == [-1, 32503680000, -11676096000]


@pytest.mark.parametrize(("value", "match"), [("3000-13-01", "'3000-13-01' is not a timestamp"),
                                              ("", "missing value")])
def test_a_bad_or_missing_date_names_its_line(tmp_path, value, match):
    fails(write(tmp_path, "x.csv", f"user_id,item_id,timestamp\n1,2,2001-01-01\n1,3,{value}\n"), match,
          row=3, column="timestamp")


def test_a_movielens_folder_without_movies_csv_says_which_file_is_missing(tmp_path):
    write(tmp_path, "ml/ratings.csv", "userId,movieId,rating,timestamp\n1,1,4,5\n")
    fails(tmp_path / "ml", "has ratings.csv but no movies.csv", file=tmp_path / "ml" / "movies.csv")


def test_a_missing_path_is_quoted_as_the_user_typed_it(tmp_path):
    with pytest.raises(DataError) as err:
        load_dataset(tmp_path / "nope.csv")
    assert str(err.value).startswith(repr(str(tmp_path / "nope.csv")))


def test_non_utf8_json_lines_are_reported_as_an_encoding_problem(tmp_path):
    fails(write(tmp_path, "x.jsonl", b'{"user_id": 1, "item_id": 2}\n{"user_id": 1, "item_id": "caf\xe9"}\n'),
          "not UTF-8", row=2)


def test_missing_titles_and_texts_of_an_item_table_built_in_python_never_read_as_nan(tmp_path):
    """pandas 3 stores None in a string column as NaN, which str() makes the text "nan": an item
    with no title must be named by its id, and no "nan" may reach an embedding or a prompt."""
    import numpy as np
    import pandas as pd

    from recstrata.data.loaders.tabular import load_interactions_table

    path = tmp_path / "ratings.csv"
    path.write_text("user_id,item_id,rating\n1,10,4\n1,11,3\n2,12,5\n2,13,1\n")
    items = pd.DataFrame({"item_id": ["10", "11", "12", "13"], "title": [None, "Heat", "  ", 1984],
                          "genres": [("Drama",), (), (), ()], "text": [np.float32("nan"), "a heist", pd.NaT, None]},
                         index=[7, 8, 7, 9])  # an index that is not 0..n-1 must not misalign the columns
    ds = load_interactions_table(path, items=items)
    assert ds.items["title"].tolist() == [None, "Heat", None, "1984"]
    assert ds.items["text"].tolist() == ["", "a heist", "", ""]
    assert [ds.item_text(i) for i in range(4)] == ["item 10; genres: Drama", "Heat; a heist", "item 12", "1984"]


def test_compressed_json_lines_are_read_as_json_lines(tmp_path):
    import gzip

    from recstrata.data.loaders.tabular import load_interactions_table

    path = tmp_path / "events.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write('{"user_id": "u1", "item_id": "a", "rating": 4}\n{"user_id": "u2", "item_id": "b", "rating": 2}\n')
    ds = load_interactions_table(path)
    assert ds.user_ids.external.tolist() == ["u1", "u2"] and sorted(ds.item_ids.external.tolist()) == ["a", "b"]
    assert sorted(ds.interactions.weight.tolist()) == [2.0, 4.0]
