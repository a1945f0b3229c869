"""Draw p95 against the number of customers from `bench --core --json` files.

    manage.py bench_chart var/bench-200k.json var/bench-500k.json var/bench-1m.json \
        --out docs/benchmarks-curve.svg

One small panel per page that the stock admin also serves: the register's
p95 (solid, green) and the admin's (dashed, grey) at each size, on a
logarithmic time axis shared by all panels so that the panels compare.
Several files of one size (runs of one sitting) are drawn as the median of
their p95s, with a bar from the lowest to the highest.
"""

import json
import math
import statistics
from pathlib import Path
from xml.sax.saxutils import escape

from django.core.management.base import BaseCommand, CommandError

GREEN, GREY = "#2e7d32", "#6b6b6b"
PANEL_W, PANEL_H, COLUMNS = 250, 190, 4
LEFT, RIGHT, TOP, BOTTOM = 46, 14, 30, 34


class Command(BaseCommand):
    help = "An SVG chart of bench --json figures across register sizes."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+")
        parser.add_argument("--out", required=True)

    def handle(self, *args, files, out, **options):
        runs = sorted(
            (json.loads(Path(name).read_text()) for name in files),
            key=lambda run: run["customers"],
        )
        if not runs:
            raise CommandError("No figures.")
        pages = [
            label
            for label, figures in runs[0]["pages"].items()
            if figures["admin"] and all(label in run["pages"] for run in runs)
        ]
        # {customers: [run, ...]}: the runs of each size, in the order given.
        sizes = {}
        for run in runs:
            sizes.setdefault(run["customers"], []).append(run)
        values = [
            run["pages"][label][side][1]
            for run in runs
            for label in pages
            for side in ("ours", "admin")
        ]
        low = 10 ** math.floor(math.log10(min(values)))
        high = 10 ** math.ceil(math.log10(max(values)))
        rows = math.ceil(len(pages) / COLUMNS)
        width, height = PANEL_W * COLUMNS, PANEL_H * rows + 40
        parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11" '
            'role="img" aria-labelledby="title">',
            '<title id="title">p95 in milliseconds against the number of customers: '
            "the register (solid) and a stock Django admin (dashed)</title>",
            f'<rect width="{width}" height="{height}" fill="white"/>',
        ]
        for index, label in enumerate(pages):
            x0 = (index % COLUMNS) * PANEL_W
            y0 = (index // COLUMNS) * PANEL_H
            parts.extend(self._panel(label, sizes, x0, y0, low, high))
        legend_y = height - 16
        parts.append(
            f'<line x1="20" y1="{legend_y}" x2="50" y2="{legend_y}" stroke="{GREEN}" '
            f'stroke-width="2.5"/><text x="56" y="{legend_y + 4}">balansia</text>'
            f'<line x1="140" y1="{legend_y}" x2="170" y2="{legend_y}" stroke="{GREY}" '
            f'stroke-width="2" stroke-dasharray="5 3"/>'
            f'<text x="176" y="{legend_y + 4}">stock Django admin</text>'
            f'<text x="330" y="{legend_y + 4}">p95 ms (log scale) against customers'
            f"{self._runs_note(sizes)}</text>"
        )
        parts.append("</svg>")
        Path(out).write_text("\n".join(parts) + "\n")
        counts = ", ".join(f"{size}: {len(group)}" for size, group in sizes.items())
        self.stdout.write(f"Wrote {out}: {len(pages)} pages, runs per size {{{counts}}}")

    @staticmethod
    def _runs_note(sizes):
        most = max(len(group) for group in sizes.values())
        if most == 1:
            return ""
        return f"; the median of {most} runs, a bar from the lowest to the highest"

    def _panel(self, label, sizes, x0, y0, low, high):
        plot_w = PANEL_W - LEFT - RIGHT
        plot_h = PANEL_H - TOP - BOTTOM
        smallest, largest = min(sizes), max(sizes)

        def x(size):
            if largest == smallest:
                return x0 + LEFT + plot_w / 2
            return x0 + LEFT + plot_w * (size - smallest) / (largest - smallest)

        def y(ms):
            share = (math.log10(ms) - math.log10(low)) / (math.log10(high) - math.log10(low))
            return y0 + TOP + plot_h * (1 - share)

        parts = [f'<text x="{x0 + LEFT}" y="{y0 + 18}" font-weight="bold">{escape(label)}</text>']
        decade = low
        while decade <= high:
            parts.append(
                f'<line x1="{x0 + LEFT}" y1="{y(decade):.1f}" x2="{x0 + LEFT + plot_w}" '
                f'y2="{y(decade):.1f}" stroke="#ddd"/>'
                f'<text x="{x0 + LEFT - 4}" y="{y(decade) + 4:.1f}" text-anchor="end">'
                f"{decade:g}</text>"
            )
            decade *= 10
        for size in sizes:
            parts.append(
                f'<text x="{x(size):.1f}" y="{y0 + TOP + plot_h + 16}" text-anchor="middle">'
                f"{size / 1000:g}k</text>"
            )
        for side, colour, dash in (
            ("admin", GREY, ' stroke-dasharray="5 3"'),
            ("ours", GREEN, ""),
        ):
            # {customers: [p95 of each run]}
            p95s = {
                size: [run["pages"][label][side][1] for run in group]
                for size, group in sizes.items()
            }
            points = " ".join(
                f"{x(size):.1f},{y(statistics.median(ms)):.1f}" for size, ms in p95s.items()
            )
            parts.append(
                f'<polyline points="{points}" fill="none" stroke="{colour}" '
                f'stroke-width="{2.5 if side == "ours" else 2}"{dash}/>'
            )
            for size, ms in p95s.items():
                if len(ms) > 1:
                    parts.append(
                        f'<line x1="{x(size):.1f}" y1="{y(min(ms)):.1f}" x2="{x(size):.1f}" '
                        f'y2="{y(max(ms)):.1f}" stroke="{colour}" stroke-width="1.5"/>'
                    )
                each = " / ".join(f"{value:.1f}" for value in ms)
                runs_text = f" (median of {len(ms)} runs: {each})" if len(ms) > 1 else ""
                parts.append(
                    f'<circle cx="{x(size):.1f}" cy="{y(statistics.median(ms)):.1f}" r="3" '
                    f'fill="{colour}"><title>{escape(label)}, {side}, '
                    f"{size} customers: p95 {statistics.median(ms):.1f} ms{runs_text}"
                    "</title></circle>"
                )
        return parts
