"""Benchmark result model, target checks and text/markdown rendering."""

from __future__ import annotations

from dataclasses import dataclass, field

from loadgen import CellResult

HEADER = ["row", "conc", "RPS", "p50 ms", "p99 ms", "+p50 ms", "+p99 ms", "RPS/direct", "errors"]


@dataclass
class Row:
    """One benchmark row: a target and a streaming mode, measured at several concurrencies."""

    name: str
    gateway: bool
    stream: bool
    reference: bool = False  # measured for comparison only; the targets do not apply to it
    cells: dict[int, CellResult | str] = field(default_factory=dict)
    path: str = "/v1/chat/completions"
    model: str | None = None  # None: "openai/gpt-4o-mini" through the gateway, "gpt-4o-mini" direct
    dialect: str = "openai"  # the request body's dialect
    base: str | None = None  # the direct row this one is compared with (default: same streaming mode)
    translated_from: str | None = None  # a translation row: the pass-through row its latency is held to
    fallback_of: str | None = None  # a fallback row: the row without the failing first target
    extra: dict = field(default_factory=dict)  # more request body fields (e.g. temperature 0: cacheable)
    budgeted: bool = False  # sent with an API key that has a budget (a reservation per request)


@dataclass
class Report:
    """Everything one bench run measured."""

    meta: dict[str, str]
    rows: list[Row] = field(default_factory=list)
    startup: dict[str, float] = field(default_factory=dict)
    rss_mb: dict[str, float] = field(default_factory=dict)
    gateway_error: str | None = None

    def baseline(self, row: Row, conc: int) -> CellResult | None:
        """Return the direct cell with the same streaming mode and concurrency."""
        for other in self.rows:
            if row.base is not None and other.name != row.base:
                continue
            if not other.gateway and other.stream == row.stream:
                cell = other.cells.get(conc)
                return cell if isinstance(cell, CellResult) else None
        return None


def _errors(cell: CellResult) -> str:
    bad = cell.non_2xx + cell.socket_errors
    if not bad:
        return "0"
    return f"!!! {cell.non_2xx} non-2xx, {cell.socket_errors} socket"


def table(report: Report) -> list[list[str]]:
    """Return the result table as rows of strings (without the header)."""
    out = []
    for row in report.rows:
        for conc, cell in row.cells.items():
            if isinstance(cell, str):
                out.append([row.name, str(conc), "-", "-", "-", "-", "-", "-", f"!!! FAILED: {cell}"])
                continue
            base = report.baseline(row, conc) if row.gateway else None
            added50 = f"{cell.p50_ms - base.p50_ms:+.2f}" if base else ""
            added99 = f"{cell.p99_ms - base.p99_ms:+.2f}" if base else ""
            ratio = f"{cell.rps / base.rps:.0%}" if base and base.rps else ""
            out.append(
                [
                    row.name,
                    str(conc),
                    f"{cell.rps:.0f}",
                    f"{cell.p50_ms:.2f}",
                    f"{cell.p99_ms:.2f}",
                    added50,
                    added99,
                    ratio,
                    _errors(cell),
                ]
            )
    return out


def targets(report: Report) -> list[tuple[str, str, bool | None]]:
    """Check the published targets; each entry is (description, measured, ok or None if unmeasured)."""
    checks: list[tuple[str, str, bool | None]] = []
    for row in report.rows:
        if not row.gateway or row.reference:
            continue
        mode = "stream" if row.stream else "non-stream"
        for conc, metric, limit, label in (
            (1, "p50", 1.0, "added p50 at c=1 <= 1 ms"),
            (16, "p99", 5.0, "added p99 at c=16 <= 5 ms"),
        ):
            cell, base = row.cells.get(conc), report.baseline(row, conc)
            if isinstance(cell, CellResult) and base:
                added = getattr(cell, f"{metric}_ms") - getattr(base, f"{metric}_ms")
                checks.append((f"{label} ({mode})", f"{added:+.2f} ms", added <= limit))
            else:
                checks.append((f"{label} ({mode})", "not measured", None))
        cell, base = row.cells.get(64), report.baseline(row, 64)
        if isinstance(cell, CellResult) and base and base.rps:
            ratio = cell.rps / base.rps
            checks.append((f"throughput at c=64 >= 80% of direct ({mode})", f"{ratio:.0%}", ratio >= 0.8))
        else:
            checks.append((f"throughput at c=64 >= 80% of direct ({mode})", "not measured", None))
    checks += _translation_checks(report)
    rss = report.rss_mb.get("idle after load")
    checks.append(
        ("idle RSS <= 80 MB", f"{rss:.1f} MB" if rss else "not measured", rss <= 80 if rss else None)
    )
    first = report.startup.get("start-up to first served request")
    checks.append(
        (
            "start-up to first served request <= 1.5 s",
            f"{first:.3f} s" if first else "not measured",
            first <= 1.5 if first else None,
        )
    )
    return checks


def _translation_checks(report: Report) -> list[tuple[str, str, bool | None]]:
    """Translated rows: added p50 at c=1 within 1.5x of the pass-through row's."""
    checks: list[tuple[str, str, bool | None]] = []
    by_name = {row.name: row for row in report.rows}
    for row in report.rows:
        if row.translated_from is None:
            continue
        label = f"{row.name}: added p50 at c=1 <= 1.5x {row.translated_from}'s"
        passing = by_name.get(row.translated_from)
        cell, base = row.cells.get(1), report.baseline(row, 1)
        pcell = passing.cells.get(1) if passing else None
        pbase = report.baseline(passing, 1) if passing else None
        if all(isinstance(c, CellResult) for c in (cell, base, pcell, pbase)):
            added, limit = cell.p50_ms - base.p50_ms, 1.5 * max(pcell.p50_ms - pbase.p50_ms, 0.0)
            checks.append((label, f"+{added:.2f} ms vs limit {limit:.2f} ms", added <= limit))
        else:
            checks.append((label, "not measured", None))
    return checks


def _verdict(ok: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: "n/a"}[ok]


def _fallback_costs(report: Report) -> list[tuple[str, str]]:
    """What one fallback adds: the fallback row's p50 minus its plain row's, per concurrency."""
    by_name = {row.name: row for row in report.rows}
    lines = []
    for row in report.rows:
        plain = by_name.get(row.fallback_of or "")
        if plain is None:
            continue
        for conc, cell in row.cells.items():
            other = plain.cells.get(conc)
            if isinstance(cell, CellResult) and isinstance(other, CellResult):
                lines.append((f"one fallback ({row.name} vs {plain.name}), c={conc}",
                              f"+{cell.p50_ms - other.p50_ms:.2f} ms p50, +{cell.p99_ms - other.p99_ms:.2f} ms p99, "
                              f"{cell.rps / other.rps:.0%} of its RPS (includes the failing upstream's own latency)"))
    return lines


def _extras(report: Report) -> list[tuple[str, str]]:
    lines = [(k, f"{v:.3f} s") for k, v in report.startup.items()]
    lines += _fallback_costs(report)
    lines += [(f"gateway RSS, {k}", f"{v:.1f} MB") for k, v in report.rss_mb.items()]
    return lines


STARTUP_NOTE = (
    "start-up to first served request = spawn of a configured gateway (a restart on the data dir the first "
    "start set up) until its first POST /v1/chat/completions answers 200. The loaded gateway is that "
    "restarted one; 'idle after load' is its RSS after the load, before any management call."
)


def render_text(report: Report) -> str:
    """Render the report for the terminal."""
    rows = [HEADER] + table(report)
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    lines = [f"{meta}: {value}" for meta, value in report.meta.items()] + [""]
    for i, r in enumerate(rows):
        lines.append(
            "  ".join(
                cell.rjust(w) if j else cell.ljust(w)
                for j, (cell, w) in enumerate(zip(r, widths, strict=True))
            )
        )
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("")
    lines += [f"{k}: {v}" for k, v in _extras(report)]
    lines.append(f"({STARTUP_NOTE})")
    lines.append("")
    lines += [f"[{_verdict(ok)}] {label}: {value}" for label, value, ok in targets(report)]
    if any("!!!" in r[-1] for r in rows):
        lines.append("\n!!! SOME CELLS HAD ERRORS OR FAILED - their figures are not trustworthy !!!")
    if report.gateway_error:
        lines.append(f"\n!!! GATEWAY FAILED: {report.gateway_error}")
    return "\n".join(lines)


def render_markdown(report: Report) -> str:
    """Render the report as markdown (bench/out/latest.md)."""
    lines = [f"# Benchmark run of {report.meta.get('date', '?')}", ""]
    lines += [f"- {k}: {v}" for k, v in report.meta.items() if k != "date"]
    lines += ["", "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r) + " |" for r in table(report)]
    if _extras(report):
        lines += ["", "| figure | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in _extras(report)]
    lines += ["", STARTUP_NOTE, "", "| target | measured | verdict |", "|---|---|---|"]
    lines += [f"| {label} | {value} | {_verdict(ok)} |" for label, value, ok in targets(report)]
    if report.gateway_error:
        lines += ["", "**Gateway failed:**", "", "```", report.gateway_error, "```"]
    return "\n".join(lines) + "\n"
