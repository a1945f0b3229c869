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
