"""The JSON Lines view's two ways of reading a line (segsync.engine.duckdb_jsonl): a line of the
file's shape (the first object's keys, in its order) read the short way gives what the careful
way gives, row for row, whatever its values; and the shape is taken only from an object."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import duckdb
import pytest

from segsync.engine.duckdb_jsonl import first_keys, jsonl_view, lines

SHAPE = ["order_id", "ordered_at", "customer_id", "amount", "currency", "items", "note", 'a"b']
VALUES = [
    '"O1"', '""', '"  x "', '"Zo\\u00eb"', '"Zoë"', '"q\\"uote"', '"back\\\\slash"', '"nl\\n"',
    '"\\ud83d\\ude00"', '"😀"', '"\\/"', "1", "-0", "0", "12345678901234567890",
    "123456789012345678901234567890", "1.50", "1e2", "-1E-3", "3.0", "true", "false", "null",
    "[]", "{}", '[1, 2, {"a": [3]}]', '{"x": {"y": null}, "z": [ ]}', '"2024-01-01T00:00:00Z"',
]  # fmt: skip


def _tricky(path: Path, seed: int, count: int = 2000) -> None:
    """Lines mostly of SHAPE with every kind of value, and the others a file holds: keys
    reordered, missing, added or named twice; blank lines; JSON json.loads refuses; not an
    object; not JSON; white space before the object and none after the colons."""
    rng = random.Random(seed)
    out = ["{" + ", ".join(f"{json.dumps(k)}: {rng.choice(VALUES)}" for k in SHAPE) + "}"]
    for _ in range(count):
        keys, r = list(SHAPE), rng.random()
        if r < 0.08:
            rng.shuffle(keys)
        elif r < 0.13:
            keys.remove(rng.choice(keys))
        elif r < 0.18:
            keys.append("extra")
        elif r < 0.21:
            keys.append(rng.choice(SHAPE))
        body = ", ".join(f"{json.dumps(k)}: {rng.choice(VALUES)}" for k in keys)
        line, r = "{" + body + "}", rng.random()
        if r < 0.02:
            line = "{" + body + ",}"
        elif r < 0.04:
            line = line[:-1] + ', "n": ' + rng.choice(["NaN", "nan", "-Infinity", "inf"]) + "}"
        elif r < 0.05:
            line = rng.choice(["", "   ", "\t"])
        elif r < 0.06:
            line = rng.choice(["[1, 2]", "3", '"text"', "null"])
        elif r < 0.07:
            line = "  " + line
        elif r < 0.08:
            line = line[:-1]
        elif r < 0.10:
            line = line.replace(": ", ":")
        out.append(line)
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


@pytest.mark.parametrize(
    ("keys", "rest_without", "with_keys"),
    [
        (["order_id", "ordered_at", "customer_id", "amount", "currency", "note", "absent"],
         ["order_id", "ordered_at", "customer_id", "amount", "currency", "unknown"], False),
        (["order_id", 'a"b', "items", "currency"], None, True),
        (["order_id", "items"], ["order_id", "items", 'a"b'], True),
        (["note"], None, False),
    ],
)  # fmt: skip
@pytest.mark.parametrize("seed", [1, 2])
def test_a_line_of_the_files_shape_reads_as_any_other_line_does(
    tmp_path: Path, keys: list[str], rest_without: list[str] | None, with_keys: bool, seed: int
) -> None:
    path = tmp_path / "events.jsonl"
    _tricky(path, seed)
    shape = first_keys(path)
    assert shape == SHAPE
    con = duckdb.connect()
    rows = {}
    for name, given in (("short", shape), ("careful", None)):
        view = jsonl_view(
            f"v_{name}", path, keys, rest_without=rest_without, with_keys=with_keys, shape=given
        )
        con.execute(view)
        rows[name] = con.execute(f"SELECT * FROM v_{name}").fetchall()
    assert rows["short"] == rows["careful"]
    # the file exercises both ways, and every kind of line
    of_shape = con.execute(
        f"SELECT count(*) FROM {lines(path)} WHERE try(json_keys(_line)) = {shape!r}"
    ).fetchone()
    assert of_shape is not None and 1000 < of_shape[0] < len(rows["short"])
    assert {r[0] for r in rows["short"]} == {"object", "other", "blank"}


def test_the_shape_is_the_first_objects_keys_or_none(tmp_path: Path) -> None:
    def shape(text: str | bytes, name: str = "f.jsonl") -> list[str] | None:
        path = tmp_path / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return first_keys(path)

    assert shape('\n  \n{"b": {"x": 1, "y": 2}, "a": [{"z": 3}]}\n{"c": 1}\n') == ["b", "a"]
    assert shape('\ufeff{"a": 1}\n'.encode()) == ["a"]  # a byte-order mark, as the reader skips
    assert shape('[{"a": 1}]\n') is None  # not an object
    assert shape("null\n") is None
    assert shape("{}\n") is None  # no keys
    assert shape('{"a": 1, "a": 2}\n') is None  # a key named twice
    assert shape('{"a": 1,}\n') is None  # not JSON json.loads reads
    assert shape("\n\n") is None and shape("") is None
    assert shape(b'{"a": "\xff"}\n') is None  # not UTF-8
    assert shape(gzip.compress(b'{"a": 1}\n'), name="f.jsonl.gz") is None
    assert first_keys(tmp_path / "missing.jsonl") is None
    long = '{"a": "' + "x" * 100 + '"}\n{"b": 1}\n'
    assert shape(long) == ["a"]
    assert first_keys(tmp_path / "f.jsonl", within=50) is None  # a first line longer than that
    assert shape("\n" * 60 + '{"a": 1}\n') == ["a"]
    assert first_keys(tmp_path / "f.jsonl", within=50) is None  # blank lines past it
