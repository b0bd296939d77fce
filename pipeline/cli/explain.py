"""`livegate explain CREATOR`: credit and the restrictions in force now, each with the
decision that imposed it (rule, reason, evidence, time), newest first.

It asks the worker that holds the creator (`GET /creators/{id}`, forwarded to the
partition's owner), which answers from the creator's state: no scan of the decision log.
"""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from pipeline.adapters.settings import Settings
from pipeline.adapters.textsafety import printable_json, printable_lines
from pipeline.adapters.times import format_ms
from pipeline.domain.errors import LiveGateError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("explain", help="a creator's credit and restrictions, and why")
    p.add_argument("creator", metavar="CREATOR")
    p.add_argument("--json", action="store_true", help="the worker's creator view as JSON")
    p.add_argument(
        "--url", help="a worker's web address (default http://LIVEGATE_WEB_HOST:LIVEGATE_WEB_PORT)"
    )
    p.set_defaults(handler=_explain)


def fetch_view(settings: Settings, creator: str, url: str | None = None) -> dict[str, Any]:
    base = (url or f"http://{settings.web_host}:{settings.web_port}").rstrip("/")
    request = urllib.request.Request(f"{base}/creators/{urllib.parse.quote(creator, safe='')}")
    if settings.web_token is not None:
        request.add_header("Authorization", f"Bearer {settings.web_token.reveal()}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            body: dict[str, Any] = json.loads(response.read())
            return body
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise LiveGateError(f"creator {creator!r} has no decisions yet") from None
        if exc.code == 401:
            raise LiveGateError("the worker refused the request: set LIVEGATE_WEB_TOKEN") from None
        raise LiveGateError(f"the worker at {base} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise LiveGateError(f"cannot reach a worker at {base} ({reason})") from None


def _until(value: Any) -> str:
    if value == "while_qualified":
        return "while qualified"
    if value in (None, "permanent"):
        return "permanent"
    return f"until {format_ms(value)}"


def _because(item: dict[str, Any]) -> list[str]:
    return [
        f"      [{item.get('rule_id')}] {item.get('reason')}",
        f"      decided {format_ms(item.get('decided_at'))} on the event of "
        f"{format_ms(item.get('event_ts'))}; evidence {', '.join(item.get('evidence', []))}",
        f"      action {item.get('action_id')}",
    ]


def render(view: dict[str, Any]) -> str:
    platform = view.get("platform")
    on = f" on {platform}" if platform else ""  # CONTRACT §11: its platform's scheme
    lines = [
        f"{view['creator_id']}{on}: credit {view['credit']} of {view['credit_max']}"
        f"  (as of {format_ms(view.get('as_of'))}, policy {view.get('policy_version')})",
    ]
    in_force = view.get("in_force", [])
    lines.append("restrictions in force, newest first:" if in_force else "no restriction in force")
    for item in in_force:
        what = item["action"].replace("_", " ")
        if item.get("surfaces"):
            what += " on " + ", ".join(item["surfaces"])
        lines.append(f"  {what}, {_until(item.get('until'))}")
        lines.extend(_because(item))
    deductions = view.get("deductions", [])
    if deductions:
        lines.append("deductions, newest first:")
        for item in deductions:
            lines.append(f"  -{item.get('points')} points")
            lines.extend(_because(item))
    for key, title in (("open_reviews", "open reviews"), ("open_appeals", "open appeals")):
        for item in view.get(key, []):
            ident = item.get("review_id") or item.get("appeal_id")
            lines.append(f"  {title[5:-1]} {ident} open since {format_ms(item.get('opened_at'))}"
                         f" [{item.get('rule_id')}]")  # fmt: skip
    for item in view.get("exemptions", []):
        rule = item.get("rule_id") or "every rule"
        state = "in force" if item.get("in_force") else "ended"
        lines.append(f"  exemption {item.get('exemption_id')} [{rule}] shadows until "
                     f"{format_ms(item.get('until'))} ({state}), granted by "
                     f"{item.get('granted_by')} at {format_ms(item.get('granted_ts'))}: "
                     f"{item.get('reason')}")  # fmt: skip
    return "\n".join(lines)


def _explain(args: argparse.Namespace) -> int:
    view = fetch_view(Settings.from_env(), args.creator, args.url)
    if args.json:
        print(printable_json(json.dumps(view, indent=2, ensure_ascii=False)))
    else:
        print(printable_lines(render(view)))
    return 0
