"""The dashboard web UI (docs/dashboard.md): its files as the API Lambda serves them, and the UI's
REST calls checked against the API itself, so that the page and the API cannot drift apart."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from functions.api.handler import ROUTER
from functions.api.http import ApiRequest
from shared.plumbing.errors import MethodNotAllowed, RouteNotFound
from tests.functional.jobs_api import JOBS, assert_error, claim_one, create_job

REPO_ROOT = Path(__file__).resolve().parents[3]
UI = REPO_ROOT / "dashboard_ui"
SHIPPED_JS = sorted(UI.glob("*.js"))
ENDPOINT = re.compile(r"""method:\s*"(GET|POST|PUT|PATCH|DELETE)",\s*path:\s*[`"](/api/v1/[^`"]*)[`"]""")
ANY_API_PATH = re.compile(r"""[`"'](/api/v1/[^`"'?]*)""")
# The live socket is the WebSocket API's path, not an HTTP route of this Lambda (contract §2.11).
WEBSOCKET_PATH = "/api/v1/ws"
CONTENT_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


def _referenced_assets() -> set[str]:
    """Every file the page loads: index.html's src/href under dashboard/, and every module import."""
    html = (UI / "index.html").read_text()
    names = {n for n in re.findall(r'(?:src|href)="dashboard/([^"]+)"', html) if not n.startswith("vendor/")}
    pending = [n for n in names if n.endswith(".js")]
    while pending:
        source = (UI / pending.pop()).read_text()
        for imported in re.findall(r'from\s+"\./([^"]+)"', source):
            if imported not in names:
                names.add(imported)
                pending.append(imported)
    return names


ASSETS = sorted(_referenced_assets())
# Third-party files (npm, functions/api/vendor_assets.py), served from node_modules or the bundle.
VENDOR_ASSETS = sorted(
    re.findall(r'(?:src|href)="dashboard/vendor/([^"]+)"', (UI / "index.html").read_text())
)


def test_the_page_loads_its_scripts_and_styles() -> None:
    # Guards the parsing above: an empty list would make the parametrized tests vacuous.
    assert {"app.js", "style.css", "state.js", "endpoints.js", "frames.js", "render.js"} <= set(ASSETS)


def _assert_ui_headers(headers: dict[str, str]) -> None:
    csp = {d.split()[0]: d.split()[1:] for d in headers["content-security-policy"].split("; ")}
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]  # no 'unsafe-inline', no other origin
    # Only the page's own origin (issue 12, finding 8: `ws: wss:` let a script reach any host).
    assert csp["connect-src"][0] == "'self'"
    assert all(source.startswith(("ws://", "wss://")) for source in csp["connect-src"][1:])
    assert csp["frame-ancestors"] == ["'none'"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-cache"
    assert headers["etag"].startswith('"')


def test_dashboard_page_is_served_without_an_api_key(api: Any) -> None:
    response = api.get("/dashboard", api_key=None)
    assert response.status == 200, response
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    _assert_ui_headers(response.headers)
    assert '<script type="module" src="dashboard/app.js"></script>' in response.text


def test_a_wrong_key_does_not_stop_the_page_from_loading(api: Any) -> None:
    # The browser may hold a stale Authorization for this origin; the page itself needs none.
    assert api.get("/dashboard", api_key="sp_test_not_a_real_key").status == 200


@pytest.mark.parametrize("name", ASSETS)
def test_every_file_the_page_loads_is_served_with_its_type(api: Any, name: str) -> None:
    response = api.get(f"/dashboard/{name}", api_key=None)
    assert response.status == 200, response
    assert response.headers["content-type"] == CONTENT_TYPES[Path(name).suffix]
    _assert_ui_headers(response.headers)
    assert response.text == (UI / name).read_text()


def test_the_page_loads_the_chart_library_from_this_origin() -> None:
    assert VENDOR_ASSETS == ["uplot.css", "uplot.js"]


@pytest.mark.parametrize("name", VENDOR_ASSETS)
def test_the_vendored_chart_library_is_served_from_its_npm_package(api: Any, name: str) -> None:
    from functions.api import vendor_assets

    response = api.get(f"/dashboard/vendor/{name}", api_key=None)
    assert response.status == 200, response
    assert response.headers["content-type"] == CONTENT_TYPES[Path(name).suffix]
    _assert_ui_headers(response.headers)
    assert response.text == (REPO_ROOT / "node_modules" / vendor_assets.FILES[name]).read_text()


@pytest.mark.parametrize("name", ["swagger-ui-bundle.js", "nope.js", "..", "uplot.map"])
def test_only_the_chart_library_is_under_dashboard_vendor(api: Any, name: str) -> None:
    assert_error(api.get(f"/dashboard/vendor/{name}", api_key=None), 404, "NOT_FOUND")


def test_the_page_has_no_inline_script_or_style_the_policy_would_block() -> None:
    html = (UI / "index.html").read_text()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts
    for attributes, body in scripts:
        assert 'src="' in attributes and body.strip() == ""
    assert not re.search(r"\son[a-z]+\s*=", html)  # inline event handlers
    assert " style=" not in html and "<style" not in html
    assert "http://" not in html and "https://" not in html  # nothing from another origin


def test_scripts_never_parse_data_as_html() -> None:
    # Job payloads and errors are user input: the UI renders with textContent and DOM calls only.
    for path in SHIPPED_JS:
        source = path.read_text()
        sinks = ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function")
        for sink in sinks:
            assert sink not in source, f"{path.name} uses {sink}"


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/nope.js",
        "/dashboard/index.html",  # only at /dashboard, where its relative links resolve
        "/dashboard/package.json",
        "/dashboard/tests",
        "/dashboard/..",
        "/dashboard/.hidden.js",
        "/dashboard/tests/state.test.mjs",
        "/dashboard/app.js/x",
    ],
)
def test_anything_else_under_dashboard_is_a_json_404(api: Any, path: str) -> None:
    body = assert_error(api.get(path, api_key=None), 404, "NOT_FOUND")
    assert body["message"] == "No route matches this path"


def test_the_ui_is_read_only(api: Any) -> None:
    assert_error(api.post("/dashboard", {}, api_key=None), 405, "METHOD_NOT_ALLOWED")
    assert_error(api.delete("/dashboard/app.js", api_key=None), 405, "METHOD_NOT_ALLOWED")


def test_an_unchanged_file_is_revalidated_with_a_304(api: Any) -> None:
    first = api.get("/dashboard/app.js", api_key=None)
    etag = first.headers["etag"]
    again = api.get("/dashboard/app.js", api_key=None, headers={"If-None-Match": etag})
    assert again.status == 304
    assert again.text == ""
    assert again.headers["etag"] == etag
    other = api.get("/dashboard/app.js", api_key=None, headers={"If-None-Match": '"something-else"'})
    assert other.status == 200 and other.text == first.text
    assert api.get("/dashboard/style.css", api_key=None).headers["etag"] != etag


def test_a_trailing_slash_redirects_to_the_page(api: Any) -> None:
    response = api.get("/dashboard/", api_key=None)
    assert response.status == 308
    assert response.headers["location"] == "../dashboard"


# --- the UI's REST calls against the API --------------------------------------------------


def _ui_endpoint_literals() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for path in SHIPPED_JS:
        source = path.read_text()
        pairs = ENDPOINT.findall(source)
        found.extend(pairs)
        declared = {p for _, p in pairs}
        # Every API path anywhere in the shipped scripts is one of the declared endpoints: a fetch
        # written somewhere else would escape this test.
        for literal in ANY_API_PATH.findall(source):
            assert literal in declared or literal == WEBSOCKET_PATH, f"{path.name}: {literal}"
    return found


def _resolve(method: str, path: str) -> Any:
    request = ApiRequest(method=method, path=path, headers={}, query={}, body=b"", request_id="t")
    return ROUTER.resolve(request)


def test_every_api_path_the_ui_calls_is_a_served_route() -> None:
    endpoints = _ui_endpoint_literals()
    assert len(endpoints) >= 10
    for method, template in endpoints:
        path = re.sub(r"\$\{[^}]*\}", "some-id", template)
        try:
            route = _resolve(method, path)
        except (RouteNotFound, MethodNotAllowed) as error:
            pytest.fail(f"the UI calls {method} {template}, which the API does not serve ({error.code})")
        assert route.public is False, f"{method} {template} should need the key the UI sends"


def test_app_js_calls_only_endpoints_that_exist() -> None:
    declared = set(re.findall(r"^  (\w+): \(", (UI / "endpoints.js").read_text(), re.M))
    used = set(re.findall(r"endpoints\.(\w+)\(", (UI / "app.js").read_text()))
    assert used, "app.js should make its calls through endpoints.js"
    assert used <= declared
    # Every endpoint is used: a stale entry would be tested here yet dead in the page.
    assert declared == used


def _endpoints_from_js(args: dict[str, list[Any]]) -> dict[str, dict[str, Any]]:
    """Evaluate the real endpoints.js in node with these arguments per endpoint."""
    script = (
        "const { endpoints } = await import(process.argv[1]);"
        "const args = JSON.parse(process.argv[2]);"
        "const missing = Object.keys(endpoints).filter((k) => !(k in args));"
        "if (missing.length) { console.error('no arguments for ' + missing); process.exit(3); }"
        "const out = Object.fromEntries(Object.keys(args).map((k) => [k, endpoints[k](...args[k])]));"
        "console.log(JSON.stringify(out));"
    )
    result = subprocess.run(
        ["node", "--input-type=module", "-e", script, (UI / "endpoints.js").as_uri(), json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _call(api: Any, endpoint: dict[str, Any]) -> Any:
    params = {k: v for k, v in (endpoint.get("query") or {}).items() if v not in (None, "")}
    kwargs: dict[str, Any] = {"params": params or None}
    if "body" in endpoint:
        kwargs["json_body"] = endpoint["body"]
    return api.request(endpoint["method"], endpoint["path"], **kwargs)


def _dead_letter_one(api: Any, queue: str) -> str:
    job_id = create_job(api, queue, max_retries=0)
    claimed = claim_one(api, queue)
    assert claimed["id"] == job_id, "the queue should hold no other job"
    response = api.post(
        f"{JOBS}/{job_id}/fail", {"worker_id": "worker-1", "error": "boom", "lease_id": claimed["lease_id"]}
    )
    assert response.status == 200, response
    return job_id


def test_the_ui_calls_work_against_the_api(api: Any, drain_stream: Any) -> None:
    """Each endpoint as the page builds it (evaluated from endpoints.js), sent through the API."""
    dead = _dead_letter_one(api, "emails")
    dead_too = _dead_letter_one(api, "emails")
    waiting = create_job(api, "emails", {"job_type": "welcome", "to": "a@example.com"})
    registered = api.post("/api/v1/workers/register", {"queue_name": "emails", "hostname": "box-1"})
    assert registered.status == 201, registered
    drain_stream()

    filters = {"status": "pending", "queue": "emails"}
    built = _endpoints_from_js(
        {
            "dashboard": [],
            "queues": [],
            "queueStats": ["emails"],
            "jobs": [filters, 0, 50],
            "job": [waiting],
            "jobHistory": [waiting],
            "workers": [],
            "deadLetter": ["emails", 0, 50],
            "pauseQueue": ["emails"],
            "resumeQueue": ["emails"],
            "retryJob": [dead],
            "cancelJob": [waiting],
            "retryDeadLetter": ["emails"],
            "activity": ["emails"],
        }
    )

    activity = _call(api, built["activity"])
    assert activity.status == 200 and activity.json["queue_name"] == "emails"
    assert sum(p["created"] for p in activity.json["points"]) == 3
    overview = _call(api, built["dashboard"])
    assert overview.status == 200, overview
    assert {"system", "jobs", "queues", "workers", "recent_activity"} <= set(overview.json)
    queues = _call(api, built["queues"])
    assert [q["queue_name"] for q in queues.json] == ["emails"]
    stats = _call(api, built["queueStats"])
    assert stats.status == 200 and stats.json["queue_name"] == "emails"
    jobs = _call(api, built["jobs"])
    assert [j["id"] for j in jobs.json] == [waiting]  # the status and queue filters reached the API
    assert jobs.json[0]["job_type"] == "welcome"
    assert jobs.headers["x-has-more"] == "false"
    assert _call(api, built["job"]).json["payload"]["to"] == "a@example.com"
    history = _call(api, built["jobHistory"]).json
    assert history[0]["event_type"] == "created"
    assert [w["hostname"] for w in _call(api, built["workers"]).json] == ["box-1"]
    assert {j["id"] for j in _call(api, built["deadLetter"]).json} == {dead, dead_too}

    paused = _call(api, built["pauseQueue"])
    assert paused.status == 200 and paused.json["paused"] is True
    assert _call(api, built["resumeQueue"]).status == 200
    assert _call(api, built["retryJob"]).json["status"] == "pending"
    assert _call(api, built["cancelJob"]).status == 204
    retried = _call(api, built["retryDeadLetter"])
    assert retried.status == 200 and retried.json["retried_count"] == 1
    assert _call(api, built["deadLetter"]).json == []


# --- the Lambda bundle --------------------------------------------------------------------


def test_the_lambda_bundle_carries_the_ui_where_the_route_looks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.api import routes_dashboard_ui
    from scripts import build_lambda_bundle

    no_wheels = tmp_path / "wheels"
    no_wheels.mkdir()
    monkeypatch.setattr(build_lambda_bundle, "install_dependencies", lambda: (no_wheels, False))
    bundle = build_lambda_bundle.build_bundle(tmp_path / "bundle", REPO_ROOT)

    route_module = bundle / Path(routes_dashboard_ui.__file__).relative_to(REPO_ROOT)
    served_from = route_module.resolve().parents[2] / "dashboard_ui"
    for name in ["index.html", *ASSETS]:
        assert (served_from / name).read_text() == (UI / name).read_text()
    assert not (served_from / "tests").exists()
    assert not (served_from / "package.json").exists()
    # The npm files, where functions/api/vendor_assets.py looks in a bundle, with their licences.
    from functions.api import vendor_assets

    vendored = route_module.resolve().parents[2] / "vendor"
    for name, package_path in {**vendor_assets.FILES, **vendor_assets.LICENSES}.items():
        assert (vendored / name).read_bytes() == (REPO_ROOT / "node_modules" / package_path).read_bytes()
    # The reference page and the OpenAPI document travel too (routes_docs.py).
    assert (served_from / "reference" / "index.html").is_file()
    assert (route_module.parent / "openapi.json").read_text() == (
        REPO_ROOT / "functions/api/openapi.json"
    ).read_text()


def test_the_socket_may_reach_only_the_pages_own_host(api: Any, monkeypatch: Any) -> None:
    from shared.plumbing.config import settings

    monkeypatch.setenv("EXTERNAL_URL", "https://d111.cloudfront.net")
    settings.cache_clear()
    deployed = api.get(
        "/dashboard",
        api_key=None,
        headers={"Host": "abc.execute-api.us-east-1.amazonaws.com", "X-Forwarded-Proto": "https"},
    )
    csp = {d.split()[0]: d.split()[1:] for d in deployed.headers["content-security-policy"].split("; ")}
    assert csp["connect-src"] == [
        "'self'",
        "wss://d111.cloudfront.net",
        "wss://abc.execute-api.us-east-1.amazonaws.com",
    ]
    local = api.get("/dashboard", api_key=None, headers={"Host": "127.0.0.1:8080"})
    assert "ws://127.0.0.1:8080" in local.headers["content-security-policy"]
    forged = api.get("/dashboard", api_key=None, headers={"Host": "evil.example; script-src *"})
    assert "evil" not in forged.headers["content-security-policy"]
    settings.cache_clear()
