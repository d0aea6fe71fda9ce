"""BaseClient._http_request over requests: requests-mock for shapes and errors, and a loopback HTTPS server
for the real urllib3 Retry (requests-mock replaces the transport adapter, so it cannot exercise retries)."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from CommonServerPython import BaseClient, DemistoException, SSLAdapter
from urllib3.util import Retry
from xsoar_session import XSOARSession, use_session

BASE = "https://api.example.test/v1"

# CommonServerPython calls urllib3.disable_warnings() at import, but pytest resets warning filters per test.
pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")


@pytest.fixture
def client() -> BaseClient:
    return BaseClient(BASE, verify=True, headers={"Authorization": "Bearer k"})


def test_json_default_and_request_shape(requests_mock: Any, client: BaseClient) -> None:
    requests_mock.post(f"{BASE}/items", json={"ok": 1})
    assert client._http_request("POST", "/items", params={"q": "a b"}, json_data={"x": 1}) == {"ok": 1}
    req = requests_mock.last_request
    assert req.headers["Authorization"] == "Bearer k"
    assert req.qs == {"q": ["a b"]} and req.json() == {"x": 1}
    assert req.timeout == 60 and req.verify is not False  # True, or the CA bundle from the environment


def test_headers_auth_full_url_and_data(requests_mock: Any, client: BaseClient) -> None:
    requests_mock.put("https://other.test/x", text="done")
    out = client._http_request(
        "PUT",
        full_url="https://other.test/x",
        headers={"H": "1"},
        auth=("u", "p"),
        data="raw",
        resp_type="text",
        timeout=5,
    )
    req = requests_mock.last_request
    assert out == "done" and req.headers["H"] == "1" and "Authorization" in req.headers
    assert req.headers["Authorization"].startswith("Basic ") and req.text == "raw" and req.timeout == 5


def test_params_parser(requests_mock: Any, client: BaseClient) -> None:
    from urllib.parse import quote

    requests_mock.get(f"{BASE}/s", json={})
    client._http_request("GET", "s", params={"q": "a b/c"}, params_parser=quote)
    assert requests_mock.last_request.url.endswith("?q=a%20b%2Fc")  # quote, not the default quote_plus


@pytest.mark.parametrize(("resp_type", "expected"), [("text", "<a>1</a>"), ("content", b"<a>1</a>")])
def test_resp_types(requests_mock: Any, client: BaseClient, resp_type: str, expected: Any) -> None:
    requests_mock.get(f"{BASE}/r", text="<a>1</a>")
    assert client._http_request("GET", "r", resp_type=resp_type) == expected


def test_resp_type_response_and_xml(requests_mock: Any, client: BaseClient) -> None:
    requests_mock.get(f"{BASE}/r", text="<a>1</a>")
    res = client._http_request("GET", "r", resp_type="response")
    assert isinstance(res, requests.Response) and res.status_code == 200
    # as on the platform: 'xml' validates the body and then returns the Response itself
    assert isinstance(client._http_request("GET", "r", resp_type="XML"), requests.Response)
    requests_mock.get(f"{BASE}/bad", text="not xml <")
    with pytest.raises(Exception):  # noqa: B017 - ParseError is not a ValueError, so it propagates as is
        client._http_request("GET", "bad", resp_type="xml")


def test_unknown_resp_type_returns_response(requests_mock: Any, client: BaseClient) -> None:
    requests_mock.get(f"{BASE}/r", text="x")
    assert isinstance(client._http_request("GET", "r", resp_type="weird"), requests.Response)


def test_invalid_json_raises_parse_error(requests_mock: Any, client: BaseClient) -> None:
    requests_mock.get(f"{BASE}/r", text="not json")
    with pytest.raises(DemistoException) as exc:
        client._http_request("GET", "r")
    assert str(exc.value) == "Failed to parse json object from response: b'not json'"
    assert exc.value.res is not None and exc.value.res.text == "not json"
    res = requests.Response()
    res._content = b"x"
    assert client.cast_response(res, "json", raise_on_error=False) is None


def test_error_message_with_json_body(requests_mock: Any, client: BaseClient) -> None:
    requests_mock.get(f"{BASE}/r", status_code=400, reason="Bad Request", json={"error": "bad"})
    with pytest.raises(DemistoException) as exc:
        client._http_request("GET", "r")
    assert str(exc.value) == 'Error in API call [400] - Bad Request\n{"error": "bad"}'
    assert exc.value.res.status_code == 400


def test_error_message_with_text_body(requests_mock: Any, client: BaseClient) -> None:
    requests_mock.get(f"{BASE}/r", status_code=503, reason="Service Unavailable", text="down")
    with pytest.raises(DemistoException, match=r"^Error in API call \[503\] - Service Unavailable\ndown$"):
        client._http_request("GET", "r")


def test_ok_codes_client_and_request_level(requests_mock: Any) -> None:
    requests_mock.get(f"{BASE}/r", status_code=201, json={"created": True})
    strict = BaseClient(BASE, ok_codes=(200,))
    with pytest.raises(DemistoException, match=r"\[201\]"):
        strict._http_request("GET", "r")
    assert strict._http_request("GET", "r", ok_codes=(201,)) == {"created": True}
    requests_mock.get(f"{BASE}/nf", status_code=404, json={"found": False})
    assert BaseClient(BASE)._http_request("GET", "nf", ok_codes=[404]) == {"found": False}
    assert BaseClient(BASE, ok_codes=(404,))._http_request("GET", "nf") == {"found": False}


def test_custom_error_handler(requests_mock: Any, client: BaseClient) -> None:
    requests_mock.get(f"{BASE}/r", status_code=429, json={})
    seen: list[int] = []

    def handler(res: requests.Response) -> None:
        seen.append(res.status_code)
        raise DemistoException("rate limited", res=res)

    with pytest.raises(DemistoException, match="^rate limited$"):
        client._http_request("GET", "r", error_handler=handler)
    assert seen == [429]


def test_empty_responses(requests_mock: Any, client: BaseClient) -> None:
    requests_mock.delete(f"{BASE}/r", status_code=204)
    res = client._http_request("DELETE", "r", return_empty_response=True)
    assert isinstance(res, requests.Response) and res.status_code == 204
    with pytest.raises(DemistoException, match="Failed to parse json object from response: b''"):
        client._http_request("DELETE", "r")
    requests_mock.post(f"{BASE}/r", status_code=202, text="")
    assert client._http_request("POST", "r", return_empty_response=True, empty_valid_codes=[202]).status_code == 202


def test_timeout_defaults_and_environment(requests_mock: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert BaseClient(BASE).timeout == 60.0
    assert BaseClient(BASE, timeout=15).timeout == 15.0
    monkeypatch.setenv("REQUESTS_TIMEOUT", "30")
    assert BaseClient(BASE).timeout == 30.0
    with use_session(XSOARSession(kind="integration", brand="Gateway")):
        monkeypatch.setenv("REQUESTS_TIMEOUT.Gateway", "90")
        client = BaseClient(BASE)
        assert client.timeout == 90.0
        requests_mock.get(f"{BASE}/r", json={})
        client._http_request("GET", "r")
        assert requests_mock.last_request.timeout == 90.0


def test_proxy_and_verify_environment_handling(monkeypatch: pytest.MonkeyPatch, requests_mock: Any) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "proxy.local:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ca.pem")
    BaseClient(BASE, proxy=True)
    assert os.environ["HTTPS_PROXY"] == "http://proxy.local:3128"
    assert os.environ["REQUESTS_CA_BUNDLE"] == "/etc/ca.pem"
    insecure = BaseClient(BASE, proxy=False, verify=False)
    assert "HTTPS_PROXY" not in os.environ and "REQUESTS_CA_BUNDLE" not in os.environ
    assert isinstance(insecure._session.get_adapter("https://x"), SSLAdapter)
    assert insecure._session.get_adapter("https://x").context.check_hostname is False
    requests_mock.get(f"{BASE}/r", json={})
    insecure._http_request("GET", "r")
    assert requests_mock.last_request.verify is False


@pytest.mark.parametrize(
    ("exc", "message"),
    [
        (requests.exceptions.ConnectTimeout, "^Connection Timeout Error - potential reasons"),
        (requests.exceptions.ProxyError, "^Proxy Error - if the 'Use system proxy' checkbox"),
        (requests.exceptions.SSLError, "^SSL Certificate Verification Failed - try selecting 'Trust any"),
        (requests.exceptions.ConnectionError, "^Verify that the server URL parameter is correct and that you have"),
    ],
)
def test_connection_failures(requests_mock: Any, client: BaseClient, exc: type[Exception], message: str) -> None:
    requests_mock.get(f"{BASE}/r", exc=exc("low level"))
    with pytest.raises(DemistoException, match=message) as info:
        client._http_request("GET", "r")
    assert isinstance(info.value.exception, exc)


def test_connection_error_details(requests_mock: Any, client: BaseClient) -> None:
    requests_mock.get(f"{BASE}/r", exc=requests.exceptions.ConnectionError("refused"))
    with pytest.raises(DemistoException) as info:
        client._http_request("GET", "r")
    assert str(info.value).endswith("\nError Type: <requests.exceptions.ConnectionError>\nrefused")
    err = requests.exceptions.ConnectionError(111, "Connection refused")
    requests_mock.get(f"{BASE}/e", exc=err)
    with pytest.raises(DemistoException, match=r"Error Number: \[111\]\nMessage: Connection refused"):
        client._http_request("GET", "e")


def test_ssl_error_reraised_when_not_verifying(requests_mock: Any) -> None:
    requests_mock.get(f"{BASE}/r", exc=requests.exceptions.SSLError("handshake"))
    with pytest.raises(requests.exceptions.SSLError):
        BaseClient(BASE, verify=False)._http_request("GET", "r")


def test_retry_error_message(requests_mock: Any, client: BaseClient) -> None:
    requests_mock.get(f"{BASE}/r", exc=requests.exceptions.RetryError("exhausted"))
    with pytest.raises(DemistoException, match=r"^Max Retries Error- Request attempts with 0 retries failed. \n$"):
        client._http_request("GET", "r")


def test_retry_configuration_mounted_on_https_only(requests_mock: Any, client: BaseClient) -> None:
    requests_mock.get(f"{BASE}/r", json={})
    client._http_request("GET", "r", retries=4, status_list_to_retry=[429, 503], backoff_factor=0)
    retry = client._session.get_adapter("https://x").max_retries
    assert isinstance(retry, Retry)
    assert (retry.total, retry.status, retry.connect, retry.read) == (4, 4, 4, 4)
    assert set(retry.status_forcelist) == {429, 503} and retry.backoff_factor == 0
    assert retry.allowed_methods == frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
    assert client._session.get_adapter("http://x").max_retries.total == 0  # platform quirk: https only
    insecure = BaseClient(BASE, verify=False)
    insecure._implement_retry(retries=1)
    assert isinstance(insecure._session.get_adapter("https://x"), SSLAdapter)


# ----------------------------------------------------------------------------------------------
# Real urllib3 retries against a loopback HTTPS server
# ----------------------------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    def _reply(self) -> None:
        server: Any = self.server
        server.hits.append((self.command, self.path))
        status = server.statuses.pop(0) if server.statuses else 200
        body = json.dumps({"status": status}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _reply  # noqa: N815 - http.server naming

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence the default stderr logging
        return


@pytest.fixture(scope="module")
def https_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to create the loopback server's certificate")
    d: Path = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    server: Any = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.hits, server.statuses = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def server(https_server: Any) -> Any:
    https_server.hits.clear()
    https_server.statuses.clear()
    return https_server


def _base(server: Any) -> str:
    return f"https://127.0.0.1:{server.server_address[1]}/api"


def test_real_retry_on_listed_status_then_success(server: Any) -> None:
    server.statuses.extend([503, 502, 200])
    client = BaseClient(_base(server), verify=False)
    out = client._http_request("GET", "x", retries=3, status_list_to_retry=[502, 503], backoff_factor=0)
    assert out == {"status": 200}
    assert server.hits == [("GET", "/api/x")] * 3


def test_no_retry_without_retries(server: Any) -> None:
    server.statuses.extend([503, 200])
    with pytest.raises(DemistoException, match=r"^Error in API call \[503\]"):
        BaseClient(_base(server), verify=False)._http_request("GET", "x", status_list_to_retry=[503])
    assert len(server.hits) == 1


def test_status_not_in_list_is_not_retried(server: Any) -> None:
    server.statuses.extend([500, 200])
    with pytest.raises(DemistoException, match=r"\[500\]"):
        BaseClient(_base(server), verify=False)._http_request(
            "POST", "x", retries=3, status_list_to_retry=[503], backoff_factor=0
        )
    assert len(server.hits) == 1


def test_retries_exhausted_returns_last_response_as_error(server: Any) -> None:
    server.statuses.extend([503, 503, 503, 200])
    with pytest.raises(DemistoException, match=r"^Error in API call \[503\]") as info:
        BaseClient(_base(server), verify=False)._http_request(
            "DELETE", "x", retries=2, status_list_to_retry=[503], backoff_factor=0
        )
    assert info.value.res.status_code == 503
    assert len(server.hits) == 3  # first try + 2 retries


def test_retries_exhausted_with_raise_on_status(server: Any) -> None:
    server.statuses.extend([503, 503, 503])
    with pytest.raises(DemistoException, match=r"^Max Retries Error- Request attempts with 2 retries failed. \nReason"):
        BaseClient(_base(server), verify=False)._http_request(
            "GET", "x", retries=2, status_list_to_retry=[503], backoff_factor=0, raise_on_status=True
        )
    assert len(server.hits) == 3


def test_verify_true_against_self_signed_is_ssl_error(server: Any) -> None:
    with pytest.raises(DemistoException, match="^SSL Certificate Verification Failed"):
        BaseClient(_base(server), verify=True)._http_request("GET", "x")
    assert server.hits == []
