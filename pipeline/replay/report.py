"""Reports of the replays: verify's text summary, whatif's Markdown, CSV and chart."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from pipeline.adapters.textsafety import spreadsheet_cell
from pipeline.adapters.times import format_ms
from pipeline.replay.verify import VerifyReport
from pipeline.replay.whatif import WhatIfResult

MAX_SHOWN = 200


def verify_text(r: VerifyReport, max_shown: int = MAX_SHOWN) -> str:
    lines = [
        f"replay verify {format_ms(r.start)} .. {format_ms(r.end)} on {r.decisions_topic}",
        f"  decision records read:  {r.records:,} (hash chains checked end to end)",
        f"  decisions checked:      {r.checked:,} (of them {r.duplicates:,} re-emitted)",
        f"  matched:                {r.matched:,}",
        f"  actions checked:        {r.actions_checked:,} ({r.redelivered_actions:,} matched a "
        "copy re-emitted with another decided_at)",
        f"  mismatches:             {len(r.mismatches):,}",
        f"  chain breaks:           {len(r.breaks):,} (forks by re-emission: {r.forks:,})",
        f"  breaks before period:   {len(r.before):,} (reported, not failures of the period)",
        f"  foreign records:        {len(r.foreign):,} (not sealed by LiveGate; skipped by the "
        "chain, never re-decided)",
        f"  unsealed (pre-v3):      {r.unsealed:,} (written before seals; chained as LiveGate's)",
        f"  unverified signatures:  {len(r.unverified):,} (keys this replay does not hold; "
        "re-decided as recorded)",
        f"  stale snapshots:        {len(r.stale):,} (warnings; {r.in_flight:,} more only missed "
        "a change made within the grace period)",
        f"  replay speed:           {r.rate:,.0f} decisions/s re-decided "
        f"({r.decide_seconds:.2f} s deciding, {r.total_seconds:.2f} s checking)",
    ]
    for p in r.problems:
        lines.append(f"PROBLEM  {p}")
    for group in (r.breaks, r.foreign, r.mismatches, r.unverified, r.stale, r.before):
        for f in group[:max_shown]:
            line = f.line(r.decisions_topic)
            lines.append(f"BEFORE THE PERIOD {line}" if group is r.before else line)
        if len(group) > max_shown:
            lines.append(f"… and {len(group) - max_shown} more")
    lines.append("OK: every decision of the period matches" if r.ok else "FAILED")
    return "\n".join(lines) + "\n"


def write_whatif(r: WhatIfResult, out: Path, examples: int = 10) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "whatif.md", out / "whatif.csv"]
    with (out / "whatif.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "change",
                "creator_id",
                "action",
                "rule_id",
                "subject",
                "event_id",
                "event_type",
                "event_ts",
                "partition",
                "offset",
                "detail",
                "platform",
            ]
        )
        for c in r.changes:
            cells = [c.change, c.creator_id, c.action, c.rule_id, c.subject, c.event_id,
                     c.event_type, c.event_ts, c.partition, c.offset, c.detail,
                     c.platform]  # fmt: skip
            w.writerow([spreadsheet_cell(cell) for cell in cells])
    chart = _chart(r, out / "whatif.png")
    if chart:
        written.append(chart)
    (out / "whatif.md").write_text(whatif_markdown(r, examples, chart), encoding="utf-8")
    return written


def _per_rule(r: WhatIfResult) -> list[tuple[tuple[str, str], int, int, int, int]]:
    added: Counter[tuple[str, str]] = Counter()
    removed: Counter[tuple[str, str]] = Counter()
    for c in r.changes:
        (added if c.change == "added" else removed)[(c.rule_id, c.action)] += 1
    keys = sorted(set(r.recorded_counts) | set(r.candidate_counts))
    return [(k, r.recorded_counts[k], r.candidate_counts[k], added[k], removed[k]) for k in keys]


def per_platform(r: WhatIfResult) -> dict[str, tuple[int, int, int]]:
    """platform -> (actions added, removed, creators whose outcome changes) (CONTRACT §11:
    an overlay change shows under the platforms it concerns)."""
    out: dict[str, list[int]] = {}
    for c in r.changes:
        row = out.setdefault(c.platform, [0, 0, 0])
        row[0 if c.change == "added" else 1] += 1
    for ers in r.outcome_changes.values():
        out.setdefault(ers[0].platform, [0, 0, 0])[2] += 1
    return {p: (a, b, n) for p, (a, b, n) in sorted(out.items())}


def per_platform_lines(r: WhatIfResult) -> list[str]:
    rows = per_platform(r)
    if not rows:
        return ["No platform's decisions change."]
    lines = ["| platform | added | removed | creators with a changed outcome |",
             "|---|---:|---:|---:|"]  # fmt: skip
    lines += [f"| {p} | {a} | {b} | {n} |" for p, (a, b, n) in rows.items()]
    return lines


def whatif_markdown(r: WhatIfResult, examples: int = 10, chart: Path | None = None) -> str:
    added = sum(c.change == "added" for c in r.changes)
    removed = len(r.changes) - added
    versions = ", ".join(f"{v} ({n:,})" for v, n in r.recorded_versions.most_common())
    md = [
        f"# What if: policy {r.candidate_version}",
        "",
        f"Period {format_ms(r.start)} to {format_ms(r.end)} (event time, end exclusive): "
        f"{r.events:,} recorded events of {r.creators:,} creators, decided by policy "
        f"{versions or '-'}; {r.duplicates_skipped:,} re-emitted decisions skipped.",
        "",
        f"**{added:,} actions added, {removed:,} removed; "
        f"{len(r.outcome_changes):,} creators with a changed outcome.**",
        "",
        "Certifications are rebuilt as of each event's time from `certification.changes`; "
        "creator state is rebuilt from the start of the period. Nothing was emitted.",
    ]
    if r.drift_events is not None:
        md += [
            "",
            f"Rebuild check: the recorded policy, replayed the same way, differs from "
            f"what was recorded on {r.drift_events:,} events (state from before the period, "
            "certification changes racing decisions); differences of that size are not the "
            "candidate's doing.",
        ]
    if r.unknown_actions:
        md += ["", f"{r.unknown_actions:,} recorded action ids were not on the actions topic."]
    md += [
        "",
        "## Actions per rule and type",
        "",
        "| rule | action | recorded | candidate | added | removed |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for (rule, action), rec, cand, add, rem in _per_rule(r):
        md.append(f"| {rule} | {action} | {rec} | {cand} | {add} | {rem} |")
    md += ["", "## Per platform", ""]
    md += per_platform_lines(r)
    if chart is not None:
        md += ["", f"![added and removed actions per rule]({chart.name})"]
    md += ["", "## Creators whose outcome changes", ""]
    if not r.outcome_changes:
        md.append("None.")
    else:
        md += ["| creator | events changed | example |", "|---|---:|---|"]
        for creator, ers in sorted(r.outcome_changes.items())[: examples * 5]:
            e = ers[0]
            md.append(
                f"| {creator} | {len(ers)} | {e.event.event_id} ({format_ms(e.event.ts)}): "
                f"{e.recorded_outcome} → {e.candidate_outcome} |"
            )
    md += ["", "## Examples", ""]
    if not r.changes:
        md.append("No action changes.")
    for kind in ("added", "removed"):
        shown = [c for c in r.changes if c.change == kind][:examples]
        if shown:
            md += [f"### {kind.capitalize()}", ""]
            for c in shown:
                md.append(
                    f"- `{c.action}` by `{c.rule_id}` on `{c.subject}` of creator "
                    f"`{c.creator_id}`, at event `{c.event_id}` ({c.event_type}, "
                    f"{format_ms(c.event_ts)}, decisions[{c.partition}]@{c.offset}): "
                    f"{c.detail}"
                )
            md.append("")
    for p in r.problems[:20]:
        md.append(f"- problem: {p}")
    md.append(f"\nReplay speed: {r.rate:,.0f} events/s through the candidate.")
    return "\n".join(md) + "\n"


def _chart(r: WhatIfResult, path: Path) -> Path | None:
    rows = [(k, add, rem) for k, _, _, add, rem in _per_rule(r) if add or rem]
    if not rows:
        return None  # nothing changes: a table says it
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    labels = [f"{rule} / {action}" for (rule, action), _, _ in rows]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.5))
    y = range(len(rows))
    ax.barh(
        [i + 0.2 for i in y], [a for _, a, _ in rows], height=0.4, label="added", color="#c0392b"
    )
    ax.barh(
        [i - 0.2 for i in y], [-m for _, _, m in rows], height=0.4, label="removed", color="#2980b9"
    )
    ax.set_yticks(list(y), labels)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("actions (candidate − recorded)")
    ax.set_title(f"What if policy {r.candidate_version}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
