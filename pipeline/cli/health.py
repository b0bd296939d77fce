"""`livegate health`: ask a worker whether it is ready (docker-compose's health check).

The image has no curl; this is that, with the answer in one line: exit 0 when the worker
answers 200, exit 1 with its reason otherwise (or when it does not answer at all).
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request

from pipeline.adapters.settings import ANY_ADDRESS, Settings
from pipeline.domain.errors import LiveGateError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "health",
        help="check a worker's /readyz (or --url): exit 0 if it answers 200, 1 with the reason",
    )
    p.add_argument(
        "--url",
        help="what to ask (default: http://<LIVEGATE_WEB_HOST>:<LIVEGATE_WEB_PORT>/readyz, "
        "127.0.0.1 when the host is 0.0.0.0)",
    )
    p.add_argument("--timeout", type=float, default=4.0, help="seconds (default 4)")
    p.set_defaults(handler=_health)


def default_url(settings: Settings) -> str:
    host = "127.0.0.1" if settings.web_host in ANY_ADDRESS else settings.web_host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.web_port}/readyz"


def _health(args: argparse.Namespace) -> int:
    url = args.url or default_url(Settings.from_env())
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as response:
            status, body = int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        status, body = int(exc.code), exc.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise LiveGateError(f"{url} does not answer: {reason}") from None
    summary = _summary(body)
    if status == 200:
        print(f"{url}: {status} {summary or 'ok'}")
        return 0
    print(f"livegate: {url}: {status} {summary}".rstrip(), file=sys.stderr)
    return 1


def _summary(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace").strip().splitlines()[0][:200] if body else ""
    if isinstance(data, dict):
        return str(data.get("reason") or data.get("status") or data.get("error") or "")
    return ""
