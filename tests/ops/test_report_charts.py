"""What the report's charts and figures say when a run has every connector: time axes of runs
seconds apart, the per-sync caption, diagrams alone in a wide card, and changes of zero."""

from __future__ import annotations

import datetime as dt
import re

from projectkit import Project
from segsync.report import charts

T0 = dt.datetime(2026, 11, 27, 20, 7, 12, tzinfo=dt.UTC)


def _axis_labels(svg: str) -> list[str]:
    return re.findall(
        r'<text x="[\d.]+" y="\d+" text-anchor="\w+" font-size="10" [^>]*>([^<]*)<', svg
    )


def test_runs_seconds_apart_get_distinct_time_labels() -> None:
    points = [(T0, 10.0), (T0 + dt.timedelta(seconds=20), 12.0)]
    svg = str(charts.line_chart([charts.Series("big_spenders", points)], label="sizes"))
    times = [t for t in _axis_labels(svg) if ":" in t]
    assert times and len(times) == len(set(times)), times  # no label repeated
    assert times[0] == "20:07:12" and times[-1] == "20:07:32"


def test_runs_a_moment_apart_are_labelled_once() -> None:
    points = [(T0, 1.0), (T0 + dt.timedelta(milliseconds=300), 2.0)]
    svg = str(charts.mirrored_bars(points, points, up_label="added", down_label="removed"))
    assert [t for t in _axis_labels(svg) if ":" in t] == ["20:07:12"]


def test_runs_days_apart_keep_the_short_date() -> None:
    points = [(T0 + dt.timedelta(days=d), float(d)) for d in range(10)]
    labels = [
        t
        for t in _axis_labels(str(charts.line_chart([charts.Series("s", points)])))
        if "Nov" in t or "Dec" in t
    ]
    assert labels[0] == "27 Nov" and len(labels) == 5


def test_sync_bars_caption_each_kind_of_change_never_their_sum() -> None:
    svg = str(
        charts.bars(
            [
                ("winback_email", [(24.0, charts.GREEN, "added"), (24.0, charts.RED, "removed"),
                                   (0.0, charts.AMBER, "failed")]),
                ("newsletter_fr", [(0.0, charts.GREEN, "added"), (0.0, charts.RED, "removed")]),
            ],
            nothing="no change",
        )
    )  # fmt: skip
    assert ">24 added · 24 removed<" in svg and ">48<" not in svg and "failed<" not in svg
    assert ">no change<" in svg


def test_diagrams_alone_in_a_card_do_not_grow_past_half_again_their_size() -> None:
    grid = str(charts.heatmap({(5, 5): 35, (1, 1): 33}, 5, names={(5, 5): "champions"}))
    width = int(re.search(r'viewBox="0 0 (\d+) ', grid).group(1))  # type: ignore[union-attr]
    assert f'style="max-width:{width * 1.5:.0f}px;margin:0 auto"' in grid
    assert "max-width:" in str(charts.funnel([("new", 3), ("active", 5)]))
    # a few sync bars in a wide section: at most a quarter again their size (text included)
    assert 'style="max-width:900px;margin:0 auto"' in str(
        charts.bars([("vip", [(3.0, charts.GREEN, "added")])])
    )
    # time charts fill their card
    assert "max-width" not in str(charts.line_chart([charts.Series("s", [(T0, 1.0)])]))


def test_a_change_of_zero_reads_0_not_plus_or_minus_0(project: Project) -> None:
    assert project.cli("run").code == 0
    out = project.root / "again.html"
    assert project.cli("run", "--report", str(out)).code == 0  # nothing changed
    html = out.read_text()
    assert not re.search(r">\s*[+−]0\b", html), re.findall(r".{60}>\s*[+−]0\b.{20}", html)
    assert "0 entered · 0 left this run" in html


def test_persona_cards_read_the_features_kmeans_writes() -> None:
    """The report parses the persona text the cluster kind writes: made here by that kind's
    own function, so the two cannot drift apart unseen (they had: the cards were empty)."""
    from segsync.report.data import _features
    from segsync.traits.kmeans import persona

    text = persona(
        412,
        ["revenue", "orders"],
        [1.4, -0.2],
        [(1100.0, 1240.5), (3.0, 3.2)],
        [(120.0, 310.0), (4.0, 4.1)],
    )
    got = _features(text)
    assert [(f["feature"], f["level"]) for f in got] == [("revenue", "high"), ("orders", "typical")]
    assert "1,100" in got[0]["value"] and "1,240" in got[0]["value"]
    assert "120" in got[0]["overall"] and "310" in got[0]["overall"]
    # personas stored before medians were written still read
    assert _features("9 people: revenue low (12 vs 310)") == [
        {"feature": "revenue", "level": "low", "value": "12", "overall": "310"}
    ]
