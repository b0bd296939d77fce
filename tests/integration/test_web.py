"""The worker's HTTP interface on a real worker: health, readiness, the token guard, OpenAPI.

One worker with LIVEGATE_WEB_TOKEN set and the certification table not loaded yet: /readyz
says so (503, with the reason) until `cert-loaded` is set, then answers 200. Every path but
/metrics, /healthz and /readyz needs the token (Faust's own views included), and every
endpoint's real answers match the OpenAPI document the worker serves.
"""

from __future__ import annotations

import http.client
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import hypothesis
import jsonschema
import pytest
import redis
import schemathesis
from openapi_spec_validator import validate

from tests.helpers import event, now_ms, run_cli
from tests.integration.conftest import Pipeline, start_pipeline

pytestmark = pytest.mark.integration

TOKEN = "web-token-" + uuid.uuid4().hex
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def web(stack_env: dict[str, str]) -> Iterator[Pipeline]:
    p = start_pipeline(stack_env, loaded=False, LIVEGATE_WEB_TOKEN=TOKEN)
    yield p
    for w in p.workers:
        w.stop()


def get(p: Pipeline, path: str, headers: dict[str, Any] | None = None) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", p.workers[0].web_port, timeout=10)
    try:
        conn.putrequest("GET", path)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read()
    finally:
        conn.close()


def wait_status(p: Pipeline, path: str, status: int, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        code, _, body = get(p, path)
        if code == status:
            return json.loads(body)
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} still answers {code}: {body!r}")
        time.sleep(0.5)


def wait_readiness(p: Pipeline, predicate, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = json.loads(get(p, "/readyz")[2])
        if predicate(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"/readyz: {body}")
        time.sleep(0.5)


def set_loaded(p: Pipeline) -> None:
    client = redis.Redis.from_url(p.settings.redis_url.reveal())
    client.set(p.settings.loaded_key, str(now_ms()))
    client.close()


def test_ready_only_once_the_certification_table_is_loaded(web: Pipeline):
    code, _, body = get(web, "/healthz")
    assert (code, json.loads(body)) == (200, {"status": "alive"})
    # Not loaded: 503 whatever else holds, and the reason names the missing key.
    not_ready = wait_status(web, "/readyz", 503)
    assert not_ready["status"] == "not ready"
    assert not not_ready["checks"]["certifications_loaded"]["ok"]
    assert f"`{web.settings.loaded_key}` missing" in not_ready["reason"]
    assert not_ready["checks"]["redis"]["ok"] and not_ready["checks"]["kafka"]["ok"]
    url = f"http://127.0.0.1:{web.workers[0].web_port}/readyz"
    done = run_cli(web.env, "health", "--url", url)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"livegate: {url}: 503 "), done.stderr
    assert web.settings.loaded_key in lines[0]

    set_loaded(web)
    ready = wait_status(web, "/readyz", 200)
    assert ready["status"] == "ready" and "reason" not in ready
    assert all(c["ok"] for c in ready["checks"].values()), ready
    assert set(ready["checks"]) == {
        "kafka", "redis", "certifications_loaded", "assigned", "recovered", "policies",
    }  # fmt: skip
    done = run_cli(web.env, "health", "--url", url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{url}: 200 ready"


def test_health_says_in_one_line_when_nothing_answers(web: Pipeline):
    done = run_cli(web.env, "health", "--url", "http://127.0.0.1:9/readyz", "--timeout", "2")
    assert done.returncode == 1
    assert done.stderr.startswith("livegate: error: http://127.0.0.1:9/readyz does not answer:")
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "path", ["/", "/router/", "/table/creator-state/", "/graph/", "/stats/", "/openapi.json",
             "/creators/nobody", "/anything"],
)  # fmt: skip
def test_everything_but_metrics_and_health_needs_the_token(web: Pipeline, path: str):
    assert get(web, path)[0] == 401
    assert get(web, path, {"Authorization": "Bearer wrong"})[0] == 401
    # A header that is not UTF-8 is a wrong token, not a server error.
    assert get(web, path, {"Authorization": b"Bearer \xff\xfe\xc3"})[0] == 401


@pytest.mark.parametrize("path", ["/router/", "/table/creator-state/", "/graph/", "/stats/"])
def test_fausts_introspection_views_are_not_served(web: Pipeline, path: str):
    assert get(web, path, BEARER)[0] == 404


def test_metrics_health_and_readiness_need_no_token(web: Pipeline):
    for path in ("/metrics", "/healthz", "/readyz"):
        assert get(web, path)[0] in (200, 503), path
    assert get(web, "/metrics")[0] == 200


def check(doc: dict, path: str, status: int, content_type: str, body: bytes) -> None:
    """The real answer matches the document: a documented status, type and schema."""
    template = next(p for p in doc["paths"] if _matches(p, path))
    response = doc["paths"][template]["get"]["responses"][str(status)]
    media = content_type.split(";")[0]
    schema = response["content"][media]["schema"]
    instance = json.loads(body) if media == "application/json" else body.decode()
    jsonschema.validate(instance, {**schema, "components": doc["components"]})


def _matches(template: str, path: str) -> bool:
    parts, given = template.strip("/").split("/"), path.strip("/").split("/")
    return len(parts) == len(given) and all(
        t == g or t.startswith("{") for t, g in zip(parts, given, strict=True)
    )


async def test_every_endpoint_answers_as_its_openapi_document_says(web: Pipeline):
    from tests.helpers import produce, wait_for

    set_loaded(web)
    code, content_type, body = get(web, "/openapi.json", BEARER)
    assert code == 200 and content_type.startswith("application/json")
    doc = json.loads(body)
    validate(doc)  # a valid OpenAPI 3.1 document
    assert set(doc["paths"]) == {
        "/creators/{creator_id}", "/metrics", "/healthz", "/readyz", "/openapi.json",
    }  # fmt: skip

    s, creator = web.settings, f"web-{uuid.uuid4().hex[:8]}"
    # A stream that stays live (no regulated domain), and a deduction on record.
    stream = event("stream_started", creator, f"{creator}-e1", stream_id="s1", category="gaming")
    link = event(
        "product_linked", creator, f"{creator}-e2", link_id="l1", product_id="p1",
        surface="live", stream_id="s1", product_category="drug",
    )  # fmt: skip
    await produce(s, s.topics.live, [(creator.encode(), stream)])
    await produce(s, s.topics.commerce, [(creator.encode(), link)])
    await wait_for(s, s.topics.actions, lambda rs: any(r.get("creator_id") == creator for r in rs))

    answers = [
        ("/creators/" + creator, BEARER),
        ("/creators/nobody-" + creator, BEARER),
        ("/creators/" + creator, None),
        ("/healthz", None),
        ("/readyz", None),
        ("/metrics", None),
        ("/openapi.json", None),
    ]
    seen = set()
    for path, headers in answers:
        code, content_type, body = get(web, path, headers)
        check(doc, path, code, content_type, body)
        seen.add((path.split("/")[1], code))
    assert {("creators", 200), ("creators", 404), ("creators", 401), ("openapi.json", 401)} <= seen
    view = json.loads(get(web, "/creators/" + creator, BEARER)[2])
    assert view["creator_id"] == creator and "s1" in view["live_streams"]
    assert view["strikes"] and view["credit"] < view["credit_max"]


# Schemathesis: generated requests for every documented operation, each answer checked
# against the document (no server error, documented status, content type and schema).
# (Its pytest plugin's from_fixture does not work with pytest 9: driven by hand here.)
def test_generated_requests_get_documented_answers(web: Pipeline):
    set_loaded(web)
    url = f"http://127.0.0.1:{web.workers[0].web_port}/openapi.json"
    schema = schemathesis.openapi.from_url(url, headers=BEARER, timeout=10)
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {op.label for op in operations}  # schemathesis leaves out the document itself
    assert labels >= {f"GET {p}" for p in ("/creators/{creator_id}", "/healthz", "/readyz",
                                           "/metrics")}  # fmt: skip
    for operation in operations:

        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(
            max_examples=25, deadline=None, database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )  # fmt: skip
        def generated(case) -> None:
            case.call_and_validate(headers=BEARER, timeout=10)

        generated()


def test_not_ready_while_redis_is_unreachable(stack_env: dict[str, str], tmp_path):
    """A worker on a Redis of its own: stop that Redis, /readyz says so; start it, ready."""
    import shutil
    import subprocess

    from tests.helpers import free_port

    binary = shutil.which("redis-server")
    assert binary, "redis-server is missing (scripts/setup.sh installs it)"
    port = free_port()

    def start_redis() -> subprocess.Popen:
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
             "no", "--dir", str(tmp_path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                redis.Redis(port=port).ping()
                return proc
            except redis.exceptions.ConnectionError:
                time.sleep(0.1)
        proc.kill()
        raise AssertionError("redis-server did not start")

    server = start_redis()
    p = None
    try:
        p = start_pipeline(
            {**stack_env, "LIVEGATE_REDIS_URL": f"redis://127.0.0.1:{port}/0"}, loaded=True
        )
        assert wait_status(p, "/readyz", 200)["status"] == "ready"
        server.terminate()
        server.wait(10)
        down = wait_status(p, "/readyz", 503)
        assert not down["checks"]["redis"]["ok"]
        assert down["reason"].startswith(f"redis: Redis unreachable at redis://127.0.0.1:{port}/0")
        assert down["checks"]["certifications_loaded"]["detail"] == "unknown: Redis is unreachable"
        assert get(p, "/healthz")[0] == 200  # alive all the same
        server = start_redis()  # empty: the table is not loaded any more
        back = wait_readiness(p, lambda body: body["checks"]["redis"]["ok"])
        assert back["status"] == "not ready" and "missing" in back["reason"], back
        set_loaded(p)
        assert wait_status(p, "/readyz", 200)["status"] == "ready"
    finally:
        if p is not None:
            for w in p.workers:
                w.stop()
        server.terminate()
        server.wait(10)
