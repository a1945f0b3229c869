"""bench_chart: the curve of docs/benchmarks.md from bench --json files."""

import json

from defusedxml import minidom
from django.core.management import call_command


def figures(customers, ours, admin):
    return {
        "customers": customers,
        "runs": 15,
        "pages": {
            "customer list, first page": {
                "ours": [ours, ours + 2, 8],
                "admin": [admin, admin, 10],
            },
            "marketing list, email": {"ours": [600, 700, 7], "admin": None},
        },
    }


def test_the_chart_draws_each_page_the_admin_also_serves(tmp_path):
    files = []
    for customers, ours, admin in ((1_000_000, 21, 640), (200_000, 19, 140)):
        path = tmp_path / f"{customers}.json"
        path.write_text(json.dumps(figures(customers, ours, admin)))
        files.append(str(path))
    out = tmp_path / "curve.svg"
    call_command("bench_chart", *files, "--out", str(out))
    svg = minidom.parse(str(out))
    lines = svg.getElementsByTagName("polyline")
    assert len(lines) == 2  # ours and the admin's, for the one page with both
    titles = [node.firstChild.data for node in svg.getElementsByTagName("title")]
    assert "customer list, first page, ours, 200000 customers: p95 21.0 ms" in titles
    assert "customer list, first page, admin, 1000000 customers: p95 640.0 ms" in titles
    assert not any("marketing" in title for title in titles)


def test_runs_of_one_size_are_drawn_as_their_median_with_a_bar(tmp_path):
    """Three runs of a sitting at each size: one point per size at the median
    of the runs' p95s, a bar from the lowest to the highest."""
    files = []
    for run, (small, large) in enumerate(((19, 25), (30, 21), (22, 40))):
        for customers, ours in ((200_000, small), (1_000_000, large)):
            path = tmp_path / f"{customers}-{run}.json"
            path.write_text(json.dumps(figures(customers, ours, 10 * ours)))
            files.append(str(path))
    out = tmp_path / "curve.svg"
    call_command("bench_chart", *files, "--out", str(out))
    svg = minidom.parse(str(out))
    ours = svg.getElementsByTagName("polyline")[1]
    assert len(ours.getAttribute("points").split()) == 2  # one point per size
    titles = [node.firstChild.data for node in svg.getElementsByTagName("title")]
    assert (
        "customer list, first page, ours, 200000 customers: p95 24.0 ms "
        "(median of 3 runs: 21.0 / 32.0 / 24.0)" in titles
    )
    assert (
        "customer list, first page, admin, 1000000 customers: p95 250.0 ms "
        "(median of 3 runs: 250.0 / 210.0 / 400.0)" in titles
    )
    bars = [
        line
        for line in svg.getElementsByTagName("line")
        if line.getAttribute("x1") == line.getAttribute("x2")
        and line.getAttribute("stroke-dasharray") == ""
        and line.getAttribute("stroke") != "#ddd"
    ]
    assert len(bars) == 4  # ours and the admin's, at two sizes
    texts = [node.firstChild.data for node in svg.getElementsByTagName("text")]
    assert any("the median of 3 runs" in text for text in texts)
