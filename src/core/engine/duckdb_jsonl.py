"""DuckDB's view of a JSON Lines file (:meth:`~segsync.engine.duckdb.DuckDBEngine.read_jsonl`):
the SQL that reads each line as Python's ``json.loads`` would.

A line is read in one of two ways, decided line by line:

- **the file's shape** — the usual line of a file one program wrote: a JSON object whose keys
  are those of the file's first object, in the same order (:func:`first_keys`). Its keys are
  listed (``json_keys``) to tell it is one; its values are then taken in one lookup
  (``json_extract`` of every key, as JSON), each value's kind read from its first character,
  and the object without the keys read (``_rest``) put together from the same values. Such a
  line names no key twice (the first object did not), so it needs no count of its keys;
- **any other line** — keys missing, added, in another order — is read the careful way: the
  kinds of the keys read (``json_type``), the object without them (``json_merge_patch``) and
  the count of its keys (a key named twice).

Both take the texts of the keys read from one ``json_extract_string``, and give the same
kinds, texts and ``_rest`` for the same line (``tests/core/test_jsonl_shape.py`` holds the
two side by side on seeded lines of every kind). The short way parses a line three times
rather than five: the demo's orders read in 8 % less CPU, its newsletter's lines in 18 % less
(``benchmarks/jsonl_read.py``). The text checks (blank lines, JSON that ``json.loads``
refuses, nesting) are the same for both.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from segsync.values import WHITESPACE

__all__ = ["CSV_BUFFER", "DEEP_BRACKETS", "first_keys", "jsonl_view", "lines", "literal"]

# the reader's buffer: a parallel read that keeps the file's order pins several at once —
# under a small memory_limit the read ran out of memory (at 128 MiB, with 8 MB buffers, in 2
# of 4 reads of 1,000,000 contacts); 4 MB still holds the longest line the reader takes (2 MB)
CSV_BUFFER = "buffer_size = 4194304"

# what Python's str.strip() strips (the characters of str.isspace), as an RE2 class
_WHITE = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in WHITESPACE) + "]"
# JSON text json.loads refuses that DuckDB's reader takes, in three patterns that each open
# on one character (a pattern opening on a class of them reads 3 times slower): a comma
# before a closing bracket; a number written inf, nan or infinity, in any case, after a comma,
# a colon or an opening bracket (json.loads takes NaN, Infinity and -Infinity only: those are
# read in Python too, as is a string that holds such a text)
_BARE = "-?(?:[iI][nN][fF]|[nN][aA][nN])"
_LAX_JSON = (
    f",[ \\t\\r\\n]*(?:[}}\\]]|{_BARE})",
    f":[ \\t\\r\\n]*{_BARE}",
    f"\\[[ \\t\\r\\n]*{_BARE}",
)
DEEP_BRACKETS = 400
"""A JSON line with this many opening brackets is read by Python (it may nest deeper than
Python's JSON reader goes, which only Python can tell)."""
_JSON_KIND = (
    "CASE {v} WHEN 'NULL' THEN 'null' WHEN 'VARCHAR' THEN 'string' WHEN 'BOOLEAN' THEN "
    "'boolean' WHEN 'UBIGINT' THEN 'integer' WHEN 'BIGINT' THEN 'integer' WHEN 'ARRAY' THEN "
    "'array' WHEN 'OBJECT' THEN 'object' WHEN 'DOUBLE' THEN 'number' WHEN 'HUGEINT' THEN "
    "'number' END"
)
# a value as DuckDB's JSON writes it (json_extract): its kind from its first character, but
# for a number, which json_type tells (an integer, or one too big for 64 bits)
_VALUE_KIND = (
    "CASE left({v}, 1) WHEN '\"' THEN 'string' WHEN 'n' THEN 'null' WHEN 't' THEN 'boolean' "
    "WHEN 'f' THEN 'boolean' WHEN '[' THEN 'array' WHEN '{{' THEN 'object' "
    f"ELSE {_JSON_KIND.format(v='json_type({v})')} END"
)


def lines(path: Path) -> str:
    """A text file's lines as a relation of one column, ``_line`` (NULL for an empty line),
    in the file's order: DuckDB's CSV reader with a delimiter, quote and escape no line
    holds (a byte-order mark is skipped)."""
    return (
        f"read_csv({literal(str(path))}, header = false, columns = {{'_line': 'VARCHAR'}}, "
        "delim = '\\x01', quote = '', escape = '', auto_detect = false, strict_mode = true, "
        f"encoding = 'utf-8', {CSV_BUFFER})"
    )


def first_keys(path: Path, *, within: int = 2 << 20) -> list[str] | None:
    """The keys of the file's first line that is not blank, in order, when that line is a JSON
    object naming at least one key, none twice; else None. Only the first ``within``
    characters are looked at (the longest line the reader takes, 2 MB: a longer first line,
    or blank lines past it, give none). A compressed file, or one this cannot read, has none
    (its lines are all read the careful way)."""
    if path.suffix.lower() in (".gz", ".zst", ".zstd", ".bz2", ".xz"):
        return None
    try:
        with path.open(encoding="utf-8-sig", errors="strict") as handle:
            while True:
                line = handle.readline(within + 1)
                within -= len(line)
                if not line or within < 0:
                    return None
                if line.strip():
                    break
    except (OSError, UnicodeDecodeError):
        return None
    objects: list[list[tuple[str, object]]] = []  # each object's pairs, the outermost last

    def hold(pairs: list[tuple[str, object]]) -> None:
        objects.append(pairs)

    try:
        if json.loads(line, object_pairs_hook=hold) is not None or not objects:
            return None  # not an object (an object reads as None here)
    except (ValueError, RecursionError):
        return None
    keys = [k for k, _ in objects[-1]]
    if not keys or len(set(keys)) != len(keys):
        return None
    return keys


def jsonl_view(
    view: str,
    path: Path,
    keys: Sequence[str],
    *,
    rest_without: Sequence[str] | None,
    with_keys: bool,
    shape: Sequence[str] | None,
) -> str:
    """The ``CREATE TEMP VIEW`` of :meth:`~segsync.engine.Engine.read_jsonl`; ``shape``: the
    keys, in order, of the lines read the short way (:func:`first_keys`; None: none are)."""
    # the paths looked up: the keys read, then any key left out of _rest not among them
    looked = [*keys, *(k for k in rest_without or () if k not in keys)]
    paths = _paths(looked)
    shape = list(shape) if shape else None
    at = {k: i + 1 for i, k in enumerate(shape or ())}  # a key's place in the shape's _x
    # the texts, for any line, from one lookup (json_extract_string: cheaper than reading each
    # of the shape's values again); the kinds of a line of the shape from its values
    fields = "".join(
        f", CASE WHEN _kind = 'object' THEN "
        f"{_either(shape, _shaped(at.get(key)), _JSON_KIND.format(v=f'_ty[{i + 1}]'))}"
        f" END AS t{i}, CASE WHEN _kind = 'object' THEN _st[{i + 1}] END AS v{i}"
        for i, key in enumerate(keys)
    )
    # blank: white space only; the line's keys, listed once (the shape's test, and a key named
    # twice); then, for a line not of the shape, the kinds of the keys' values, NULL when the
    # line is not JSON (json_valid would parse it once more)
    blank = (
        f"CASE WHEN _line IS NULL THEN TRUE WHEN left(_line, 1) = '{{' THEN FALSE "
        f"ELSE regexp_full_match(_line, '{_WHITE}*') END"
    )
    listed_keys = "CASE WHEN NOT _blank THEN try(json_keys(_line)) END"
    same = f"coalesce(_kl = {_list(shape)}, FALSE)" if shape else "FALSE"
    typed = (
        f"SELECT _line, _blank, _kl, _of_shape, CASE WHEN NOT _blank AND NOT _of_shape THEN "
        f"try(json_type(_line, {paths})) END AS _ty FROM (SELECT *, {same} AS _of_shape FROM "
        f"(SELECT _line, _blank, {listed_keys} AS _kl FROM "
        f"(SELECT _line, {blank} AS _blank FROM {lines(path)})))"
    )
    # an object: what json.loads takes
    lax = " AND ".join(f"NOT regexp_matches(_line, {literal(p)})" for p in _LAX_JSON)
    # nested deeper than json.loads can go (its C reader recurses, within Python's limit
    # of 1,000 frames): such a line holds at least DEEP_BRACKETS brackets, and is long;
    # the few lines that do are read in Python, which reads them or names them
    # (in a CASE: DuckDB evaluates both sides of an AND on every row, and counting the
    # brackets of every line cost 10 CPU-s on 6,000,000 orders; strlen is free)
    lax += (
        f" AND NOT CASE WHEN strlen(_line) >= {2 * DEEP_BRACKETS} THEN strlen(_line) - "
        f"strlen(translate(_line, '[{{', '')) >= {DEEP_BRACKETS} ELSE FALSE END"
    )
    kind = (
        "CASE WHEN _blank THEN 'blank' "
        # a line of the shape is an object (its keys are the shape's); else JSON that opens
        # with '{' is one: json_type parses only the others
        "WHEN (_of_shape OR (_ty IS NOT NULL AND CASE WHEN left(_line, 1) = '{' THEN TRUE "
        "ELSE json_type(_line) = 'OBJECT' END)) "
        f"AND {lax} THEN 'object' ELSE 'other' END"
    )
    # A key named twice: Python keeps its last value, the engine's lookups the first, so
    # such an object is 'other' (a line of the shape names none). With with_keys every key
    # is listed, and the keys read are checked for repeats (the others are not read); else
    # (a list costs as much as a parse) the keys are counted: _rest drops every copy of the
    # keys it leaves out, so a key of rest_without named twice leaves the object with more
    # keys than _rest and the ones found
    other = "_kind = 'object' AND NOT _of_shape"
    extra = ""
    if with_keys:
        wanted = _list(keys)
        keyed = (
            f"array_to_string(list_transform(list_filter(_listed, lambda k: "
            f"list_contains({wanted}, k)), lambda k: list_position({wanted}, k) - 1), ',')"
        )
        if shape:  # the shape's _keys, the same for all its lines
            order = ",".join(str(keys.index(k)) for k in shape if k in keys)
            keyed = (
                f"CASE WHEN _kind = 'object' AND _of_shape THEN {literal(order)} ELSE {keyed} END"
            )
        listed = f"CASE WHEN {other} THEN _kl END"
        # a key of keys named twice is listed twice in _keys: more entries than keys
        # found (counting the commas of that short text; list_unique of every key, the
        # check before, cost 0.5 s per 1,000,000 lines)
        twice = (
            "CASE WHEN _of_shape THEN FALSE ELSE CASE WHEN _keys = '' THEN 0 ELSE strlen(_keys) - "
            f"strlen(replace(_keys, ',', '')) + 1 END <> {_found(range(len(keys)))} END"
        )
    else:
        listed = "CAST(NULL AS VARCHAR[])"
        keyed = "CAST(NULL AS VARCHAR)"
        twice = "FALSE"
    rest = ""
    if rest_without is not None:
        patch = "{" + ", ".join(f"{_json_key(k)}: null" for k in rest_without) + "}"
        rest = f", CASE WHEN {other} THEN json_merge_patch(_line, {literal(patch)}) END AS _rest"
        if not with_keys:
            extra = f", CASE WHEN {other} THEN len(_kl) END AS _many"
            found = _found(looked.index(k) for k in rest_without)
            # (in a CASE, which reads _rest's keys only on the lines it asks of)
            twice = (
                f"CASE WHEN _of_shape THEN FALSE ELSE _many <> len(json_keys(_rest)) + {found} END"
            )
    shaped = (
        f", CASE WHEN _kind = 'object' AND _of_shape THEN json_extract(_line, {_paths(shape)}) "
        "END AS _x"
        if shape
        else ""
    )
    parsed = (
        f"SELECT _kind, _of_shape, _listed, {keyed} AS _keys, _ty{shaped}, "
        f"CASE WHEN _kind = 'object' THEN json_extract_string(_line, {paths}) END AS _st"
        f"{rest}{extra} FROM (SELECT _line, _kl, _of_shape, _kind, _ty, {listed} AS _listed FROM "
        f"(SELECT _line, _kl, _of_shape, _ty, {kind} AS _kind FROM ({typed})))"
    )
    # each of the shape's values once, as a column of its own (a list's item is taken again
    # wherever it is named)
    values = "".join(f", _x[{i}] AS _x{i}" for i in at.values())
    checked = (
        f"SELECT CASE WHEN _kind = 'object' AND {twice} THEN 'other' ELSE _kind END AS _kind, "
        f"* EXCLUDE (_kind{', _x' if shape else ''}){values} FROM ({parsed})"
    )
    more = ""
    if rest_without is not None:
        # a line of the shape: the object of its other keys, in its order, made of their values
        more = ", _rest"
        if shape:
            kept = [k for k in shape if k not in rest_without]
            built = f"CASE WHEN _kind = 'object' THEN {_object(kept, at)} END"
            more = f", CASE WHEN _of_shape THEN {built} ELSE _rest END AS _rest"
    return (
        f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT _kind, _keys{fields}{more} FROM ({checked})"
    )


def _either(shape: Sequence[str] | None, shaped: str, otherwise: str) -> str:
    """``shaped`` for a line of the shape, ``otherwise`` for any other (just ``otherwise``
    when no line is read the short way)."""
    return f"CASE WHEN _of_shape THEN {shaped} ELSE {otherwise} END" if shape else otherwise


def _shaped(place: int | None) -> str:
    """The kind of the shape's value at ``place`` (``_x{place}``; NULL: not a key of the
    shape, so absent from its lines)."""
    return "NULL" if place is None else _VALUE_KIND.format(v=f"_x{place}")


def _object(keys: Sequence[str], at: dict[str, int]) -> str:
    """The JSON object of ``keys`` and their values (``_x{i}``, JSON)."""
    return "json_object(" + ", ".join(f"{literal(k)}, _x{at[k]}" for k in keys) + ")"


def _paths(keys: Iterable[str]) -> str:
    return "[" + ", ".join(literal("$." + _json_key(k)) for k in keys) + "]"


def _list(values: Iterable[str]) -> str:
    return "[" + ", ".join(literal(v) for v in values) + "]"


def _found(indexes: Iterable[int]) -> str:
    """How many of the keys looked up at ``indexes`` (of ``_ty``) the object holds."""
    return " + ".join(f"(_ty[{i + 1}] IS NOT NULL)::INT" for i in indexes) or "0"


def literal(value: str) -> str:
    """A string literal as DuckDB reads it (the DuckDB engine's too)."""
    return "'" + value.replace("'", "''") + "'"


def _json_key(key: str) -> str:
    """A top-level key as a JSON path step: quoted, its quotes and backslashes escaped."""
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
