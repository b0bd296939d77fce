"""The bench's table (for people) from its result (the JSON, for machines)."""

from __future__ import annotations

from typing import Any

from pipeline.bench.procs import THREAD_GROUPS

NAMES = {
    "limit": "limit: raw aiokafka passthrough",
    "floor": "engine floor: bare Faust passthrough",
    "livegate_1": "LiveGate, 1 worker",
    "livegate_2": "LiveGate, 2 workers",
}


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _us(value: float | None) -> str:
    return "?" if value is None else f"{value:,.0f}"


def scale_table(scale: dict[str, Any]) -> str:
    rows = [f"a worker restoring {scale['creators']:,} creators' state",
            f"{'store':<10} {'start':<12} {'restored':>10} {'to first decision':>18} "
            f"{'states/s':>10} {'RSS':>9} {'peak RSS':>9}"]  # fmt: skip
    for store, figures in scale["stores"].items():
        for phase in ("first_start", "restart"):
            f = figures[phase]
            rate = f.get("restore_rate_per_s")
            first = f["to_first_decision_s"]
            rows.append(
                f"{store:<10} {phase.replace('_', ' '):<12} {f['to_ready_s']:>8.1f} s "
                f"{'none' if first is None else f'{first:.1f} s':>18} "
                f"{'' if rate is None else f'{rate:,.0f}':>10} {f['rss_mb']:>6.0f} MB "
                f"{f['peak_rss_mb']:>6.0f} MB"
            )
    for store, figures in scale["stores"].items():
        for key in ("failover_standby", "failover_no_standby"):
            f = figures.get(key)
            if f is None:
                continue
            done = f["to_all_decided_after_kill_s"]
            rows.append(
                f"{store:<10} failover, {f['standby_replicas']} standby replica(s): the "
                f"survivor decides every probe {'never' if done is None else f'{done:.1f} s'}"
                f" after a kill -9 (joined and ready in {f['second_ready_s']:.1f} s); RSS "
                f"{f['rss_mb']:.0f} MB, peak {f['peak_rss_mb']:.0f} MB"
            )
    return "\n".join(rows)


def _latency_row(lat: dict[str, Any]) -> str:
    return (
        f"{'  ' + lat['label']:<38} {lat['rate']:>10,.0f} "
        f"{lat['p50_ms']:>9.0f} {lat['p99_ms']:>9.0f} {lat['max_ms']:>9.0f} "
        f"{_us(lat.get('cpu_us_per_event')):>10}"
    )


def transitions_table(t: dict[str, Any]) -> list[str]:
    rows = [f"{'transitions (produced → decided)':<38} {'rate/s':>10} {'p50 ms':>9} "
            f"{'p99 ms':>9} {'max ms':>9} {'CPU µs/ev':>10}"]  # fmt: skip
    for key in ("first_after_start", "warm", "first_after_rebalance"):
        lat = t.get(key)
        if lat is not None:
            rows.append(_latency_row(lat))
    rows.append(f"  (after {t['history_events']:,} events decided: the log's history)")
    return rows


PACED_NAMES = {"floor": "engine floor (bare Faust)", "livegate_1": "LiveGate, 1 worker"}


def paced_table(paced: dict[str, Any]) -> list[str]:
    """CPU per event (and per batch) in the regimes a worker mostly runs in: first."""
    rows = [f"{'paced regimes (CPU from /proc)':<38} {'rate/s':>10} {'p50 ms':>9} "
            f"{'p99 ms':>9} {'CPU µs/ev':>10} {'batches':>8} {'ev/batch':>9} "
            f"{'µs/batch':>9}"]  # fmt: skip
    for system, phases in paced.items():
        rows.append(PACED_NAMES.get(system, system))
        for key, f in phases.items():
            live = key == "live"
            rows.append(
                f"{'  ' + f['label']:<38} "
                f"{'' if live else format(f['achieved_rate'], ',.0f'):>10} "
                f"{'' if live else format(f['p50_ms'], '.0f'):>9} "
                f"{'' if live else format(f['p99_ms'], '.0f'):>9} "
                f"{_us(f.get('cpu_us_per_event')):>10} "
                f"{format(f['batches'], ',.0f') if 'batches' in f else '':>8} "
                f"{format(f['events_per_batch'], '.1f') if 'batches' in f else '':>9} "
                f"{_us(f.get('cpu_us_per_batch')) if 'batches' in f else '':>9}"
            )
    return [*rows, *threads_table(paced)]


def threads_table(paced: dict[str, Any]) -> list[str]:
    """Each paced phase's worker CPU by thread (µs per event): where a paced batch's cost is."""
    groups = THREAD_GROUPS
    rows = ["", f"{'worker CPU by thread (µs per event)':<38} "
            + " ".join(f"{g:>11}" for g in groups)]  # fmt: skip
    for system, phases in paced.items():
        found = [(f["label"], f["threads_us_per_event"]) for f in phases.values()
                 if f.get("threads_us_per_event")]  # fmt: skip
        if not found:
            continue
        rows.append(PACED_NAMES.get(system, system))
        for label, by in found:
            rows.append(f"{'  ' + label:<38} " + " ".join(f"{_us(by.get(g)):>11}" for g in groups))
    return rows if len(rows) > 2 else []


def table(result: dict[str, Any]) -> str:
    if "scale" in result:
        return scale_table(result["scale"])
    if "systems" not in result or "floor" not in result["systems"]:
        return "\n".join(transitions_table(result.get("transitions", {"history_events": 0})))
    systems = result["systems"]
    limit = systems["limit"]["events_per_s"] if "limit" in systems else None
    floor = systems["floor"]["events_per_s"]
    rows = [*paced_table(result.get("paced", {})), ""]
    rows += [f"{'system':<38} {'events/s':>10} {'to limit':>9} {'to floor':>9} {'peak RSS':>9} "
            f"{'CPU µs/ev':>10} {'broker µs/ev':>13}"]  # fmt: skip
    for key, name in NAMES.items():
        s = systems.get(key)
        if s is None:
            continue
        rate = s["events_per_s"]
        rows.append(
            f"{name:<38} {rate:>10,.0f} {_ratio(rate / limit if limit else None):>9} "
            f"{_ratio(rate / floor):>9} {s['peak_rss_mb']:>6.0f} MB "
            f"{_us(s.get('cpu_us_per_event')):>10} {_us(s.get('broker_cpu_us_per_event')):>13}"
        )
    for i, w in enumerate(systems.get("livegate_2", {}).get("workers", []), 1):
        util = w["cpu_util"]
        share = w["cpu_share"]
        rows.append(
            f"{'  worker ' + str(i) + ' of 2':<38} {w['events_decided']:>10,.0f} events, "
            f"{'?' if util is None else f'{util:.0%}'} of a core busy, "
            f"{'?' if share is None else f'{share:.0%}'} of the two workers' CPU"
        )
    one = systems.get("livegate_1", {})
    trips = one.get("redis_round_trips_per_event")
    rows.append("")
    if trips is not None:
        rows.append(f"Redis round trips per event (1 worker): {trips:.4f}")
    pre = result["preload"]
    rows.append(
        f"certification table: {pre['certifications']:,} certifications of "
        f"{pre['creators']:,} creators ({pre['physicians']:,} physicians) "
        f"preloaded in {pre['seconds']:.2f}s"
    )
    mix = ", ".join(f"{k} {v:,}" for k, v in result["workload"]["mix"].items())
    rows.append(f"input mix of the {result['workload']['events']:,}-event backlog: {mix}")
    if "transitions" in result:
        rows += ["", *transitions_table(result["transitions"])]
    return "\n".join(rows)
