"""Messages are printed as written: text in square brackets ("[store]", "[attributes]") is not
taken for terminal markup and swallowed, nor a place such as ``file:100:`` for an emoji code."""

from __future__ import annotations

from projectkit import Project, contact


def test_config_error_keeps_its_bracketed_hint(project: Project) -> None:
    project.extra_config = (
        '\n[traits.km]\nkind = "distance"\nlat = 48.85\nlon = 2.35\n'
        'lat_column = "lat"\nlon_column = "lon"\n'
    )
    project.write()
    result = project.cli("check")
    assert result.code == 2
    assert "declare it in [attributes]" in result.err


def test_a_file_and_line_are_printed_as_written(project: Project) -> None:
    """``orders.jsonl:100:`` is a place, not an emoji code: rich read ":100:" as 💯 (and
    ":1234:" as 🔢) in the report's table, so an error named no line."""
    project.contacts = [contact(1)]
    project.orders = [
        {"order_id": f"O{i}", "customer_id": "C00001", "amount": "1.00",
         "ordered_at": "yesterday" if i == 100 else "2026-01-02T10:00:00+01:00"}
        for i in range(1, 101)
    ]  # fmt: skip
    project.write()
    result = project.cli("pull")
    assert result.code == 2
    place = "orders.jsonl:100: expected an ISO 8601 date-time"
    assert place in result.err  # the log line
    assert "orders.jsonl:100:" in result.out  # the report's table (a cell wraps at spaces)
    assert "\N{HUNDRED POINTS SYMBOL}" not in result.out + result.err
