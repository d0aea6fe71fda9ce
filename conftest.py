"""Repository-wide pytest setup.

Two jobs, both needed by every test in the repository:

1. Import paths. Pack code imports exactly as on the platform (`import demistomock as demisto`,
   `from CommonServerPython import *`, `from AIReasoningApiModule import *`), so the folders that hold
   those modules go on ``sys.path``: the platform doubles, every ``Packs/ApiModules/Scripts/*ApiModule``,
   every ``Packs/*/Scripts/*`` and ``Packs/*/Integrations/*`` folder, and the repository root (``localsoc``).
   ``pyproject.toml`` lists the static ones; the globbed ones can only be computed here.

2. No network. Tests must never leave the machine: a mis-mocked HTTP client (the anthropic SDK's httpx2
   transport is not intercepted by requests-mock/respx) would otherwise call a real API. Every connect or
   name lookup to a non-loopback address is refused with ``NetworkAccessRefused`` (an ``OSError``, so code
   under test sees what a dead network looks like), and the test that attempted it fails at teardown even if
   the code under test swallowed the error. Loopback (127.0.0.0/8, ::1, ``localhost``) and Unix sockets work,
   so scripted local HTTP servers are fine. A test that deliberately exercises a refused connection marks
   itself ``@pytest.mark.network_refusal_expected``.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent


def _code_dirs() -> list[Path]:
    """Folders whose modules pack code imports by bare name (platform layout)."""
    packs = REPO_ROOT / "Packs"
    dirs = [REPO_ROOT, REPO_ROOT / "platform_doubles"]
    dirs += sorted(p for p in packs.glob("ApiModules/Scripts/*ApiModule") if p.is_dir())
    dirs += sorted(p for p in packs.glob("*/Scripts/*") if p.is_dir() and p.parent.parent.name != "ApiModules")
    dirs += sorted(p for p in packs.glob("*/Integrations/*") if p.is_dir())
    return dirs


def _extend_sys_path() -> None:
    # Append rather than prepend so the standard library and site-packages keep precedence over
    # a pack folder that happens to hold a file named like a stdlib module.
    for d in _code_dirs():
        s = str(d)
        if s not in sys.path:
            sys.path.append(s)


_extend_sys_path()


# --------------------------------------------------------------------------------------------------
# Network guard
# --------------------------------------------------------------------------------------------------


class NetworkAccessRefused(OSError):
    """Raised when a test tries to reach a non-loopback address."""


_LOOPBACK_NAMES = {"localhost", "localhost.", "ip6-localhost", "ip6-loopback"}


def _is_loopback_host(host: Any) -> bool:
    if host is None:
        return True  # getaddrinfo(None, port): the local wildcard / loopback
    if isinstance(host, bytes | bytearray):
        host = bytes(host).decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    host = host.strip().lower()
    if host in ("", *_LOOPBACK_NAMES) or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0].strip("[]"))
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _is_allowed_address(address: Any) -> bool:
    # AF_UNIX addresses are paths (str/bytes); AF_INET/AF_INET6 are tuples (host, port, ...).
    if isinstance(address, tuple) and address:
        return _is_loopback_host(address[0])
    return isinstance(address, str | bytes | bytearray)


class _NetworkGuard:
    """Patches the socket entry points once per session and records refused attempts."""

    def __init__(self) -> None:
        self.attempts: list[str] = []
        self._originals: dict[str, Any] = {}

    def install(self) -> None:
        if self._originals:
            return
        self._originals = {
            "connect": socket.socket.connect,
            "connect_ex": socket.socket.connect_ex,
            "create_connection": socket.create_connection,
            "getaddrinfo": socket.getaddrinfo,
        }
        guard = self
        orig = self._originals

        def connect(sock: socket.socket, address: Any) -> None:
            if sock.family == socket.AF_UNIX or _is_allowed_address(address):
                return orig["connect"](sock, address)
            raise guard.refuse("socket.connect", address)

        def connect_ex(sock: socket.socket, address: Any) -> int:
            if sock.family == socket.AF_UNIX or _is_allowed_address(address):
                return orig["connect_ex"](sock, address)
            raise guard.refuse("socket.connect_ex", address)

        def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
            if _is_allowed_address(address):
                return orig["create_connection"](address, *args, **kwargs)
            raise guard.refuse("socket.create_connection", address)

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            if _is_loopback_host(host):
                return orig["getaddrinfo"](host, *args, **kwargs)
            raise guard.refuse("socket.getaddrinfo", host)

        socket.socket.connect = connect  # type: ignore[method-assign]
        socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
        socket.create_connection = create_connection  # type: ignore[assignment]
        socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]

    def uninstall(self) -> None:
        if not self._originals:
            return
        socket.socket.connect = self._originals["connect"]  # type: ignore[method-assign]
        socket.socket.connect_ex = self._originals["connect_ex"]  # type: ignore[method-assign]
        socket.create_connection = self._originals["create_connection"]  # type: ignore[assignment]
        socket.getaddrinfo = self._originals["getaddrinfo"]  # type: ignore[assignment]
        self._originals = {}

    def refuse(self, where: str, target: Any) -> NetworkAccessRefused:
        msg = (
            f"Network access refused in tests: {where}({target!r}). Tests may only reach loopback "
            "(127.0.0.0/8, ::1, localhost). Mock the client, or serve the API from a local server on 127.0.0.1."
        )
        self.attempts.append(msg)
        return NetworkAccessRefused(msg)


_GUARD = _NetworkGuard()


def pytest_configure(config: pytest.Config) -> None:
    # Installed for the whole session so that imports at collection time are covered too.
    _GUARD.install()


def pytest_unconfigure(config: pytest.Config) -> None:
    _GUARD.uninstall()


@pytest.fixture(autouse=True)
def _refuse_non_loopback_network(request: pytest.FixtureRequest) -> Iterator[None]:
    """Refuse non-loopback sockets; fail the test if it tried, even when the error was swallowed."""
    _GUARD.install()
    start = len(_GUARD.attempts)
    yield
    attempts = _GUARD.attempts[start:]
    del _GUARD.attempts[start:]
    if attempts and request.node.get_closest_marker("network_refusal_expected") is None:
        pytest.fail("test attempted non-loopback network access:\n  " + "\n  ".join(attempts), pytrace=False)
