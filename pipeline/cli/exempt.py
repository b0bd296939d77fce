"""`livegate exempt CREATOR [--rule R] --until TIME --reason TEXT` and `livegate exempt revoke
ID` (CONTRACT §10): signed exemption events on `moderation.reviews`, decided like verdicts.

Checked before anything is sent, against the policy in force now (the latest activation on
`enforcement.policies`): the rule exists, `until` is later than now and at most
`exemptions.max_days` after it. An exemption's id is `CREATOR:x` and 8 hex digits, so `exempt
revoke ID` knows the creator (the record key) from the id alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets

from pipeline.adapters import kafka
from pipeline.adapters.settings import Settings
from pipeline.adapters.times import HELP as TIME_HELP
from pipeline.adapters.times import format_ms, now_ms, parse_time
from pipeline.domain.errors import LiveGateError
from pipeline.domain.events import decode_event
from pipeline.domain.policy import Policy, load_policy
from pipeline.domain.signing import sign

ID_TAIL = ":x"


class ExemptionRefused(LiveGateError):
    pass


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "exempt",
        help="switch a rule (or every rule) to shadow for one creator until a time",
        description="`livegate exempt CREATOR --until TIME --reason TEXT [--rule R]` grants an "
        "exemption; `livegate exempt revoke ID` ends one from now on. Both are signed events "
        f"on moderation.reviews (LIVEGATE_VERDICT_KEY_ID). TIME: {TIME_HELP}.",
    )
    p.add_argument("target", metavar="CREATOR|revoke", help="the creator, or `revoke`")
    p.add_argument("exemption", nargs="?", metavar="ID", help="with `revoke`: the exemption id")
    p.add_argument("--rule", default=None, metavar="R", help="a rule id (default: every rule)")
    p.add_argument("--until", default=None, metavar="TIME", help="its end (default: none)")
    p.add_argument("--reason", default=None, metavar="TEXT", help="why (default: none)")
    p.add_argument("--by", default=None, metavar="WHO",
                   help="granted_by (default: $USER)")  # fmt: skip
    p.set_defaults(handler=_exempt)


def _exempt(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if args.target == "revoke":
        if not args.exemption:
            raise ExemptionRefused("`livegate exempt revoke ID`: the exemption id is missing")
        return _revoke(settings, args.exemption)
    if args.until is None or not args.reason:
        raise ExemptionRefused("--until and --reason are required to grant an exemption")
    now = now_ms()
    until = parse_time(args.until, now)
    policy = asyncio.run(_policy_now(settings, now))
    if args.rule is not None and args.rule not in policy.rules:
        raise ExemptionRefused(f"--rule {args.rule}: no such rule in policy {policy.version} "
                               f"(rules: {', '.join(policy.rules)}); nothing sent")  # fmt: skip
    days = policy.exemption_max_ms // 86_400_000
    if not now < until <= now + policy.exemption_max_ms:
        raise ExemptionRefused(
            f"--until {format_ms(until)} must be later than now and at most {days} days from now "
            f"(policy exemptions.max_days = {days}); nothing sent"
        )
    creator = args.target
    exemption_id = f"{creator}{ID_TAIL}{secrets.token_hex(4)}"
    body = {
        "type": "exemption_granted", "event_id": f"{exemption_id}:granted", "ts": now,
        "creator_id": creator, "exemption_id": exemption_id, "rule_id": args.rule,
        "until": until, "reason": args.reason, "granted_by": args.by or _who(),
    }  # fmt: skip
    asyncio.run(_send(settings, body))
    rule = args.rule or "every rule"
    print(f"exemption {exemption_id}: {rule} shadows for {creator} until {format_ms(until)}")
    return 0


def _revoke(settings: Settings, exemption_id: str) -> int:
    creator, tail, _ = exemption_id.rpartition(ID_TAIL)
    if not creator or not tail:
        raise ExemptionRefused(f"{exemption_id!r} is not an exemption id (CREATOR:x…)")
    now = now_ms()
    body = {
        "type": "exemption_revoked", "event_id": f"{exemption_id}:revoked:{now}", "ts": now,
        "creator_id": creator, "exemption_id": exemption_id,
    }  # fmt: skip
    asyncio.run(_send(settings, body))
    print(f"exemption {exemption_id} revoked from {format_ms(now)}")
    return 0


async def _policy_now(settings: Settings, now: int) -> Policy:
    from pipeline.engine.activations import read_activations

    found, _ = await read_activations(settings)
    current = [a for a in found if a.effective_from <= now]
    if not current:
        raise ExemptionRefused(f"no policy in force on {settings.topics.policies}: nothing sent")
    return load_policy(current[-1].text, source=f"activation {current[-1].activation_id}")


async def _send(settings: Settings, body: dict[str, object]) -> None:
    signed = sign(body, *settings.verdict_key)
    raw = json.dumps(signed, ensure_ascii=False).encode()
    key = str(body["creator_id"]).encode()
    decode_event("reviews", key, raw)  # a malformed id or field: refused here, not sent
    producer = kafka.producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(settings.topics.reviews, raw, key=key)
    finally:
        await producer.stop()


def _who() -> str:
    import getpass

    try:
        return getpass.getuser()[:64] or "unknown"
    except Exception:
        return "unknown"
