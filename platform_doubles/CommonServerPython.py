"""Double of XSOAR's CommonServerPython (`from CommonServerPython import *`).

The platform prepends CommonServerPython to every Python script and integration. demisto-sdk does not
ship it, so this repository carries its own: same names, signatures, entry shapes and error messages as
demisto/content's `Packs/Base/Scripts/CommonServerPython/CommonServerPython.py` for the part of it content
code commonly uses (written from that reference, not copied). Everything talks to the platform only through
`demistomock`, so it works with the session-backed double and with `mocker.patch.object(demisto, ...)`.

Like the real module it has no `__all__`: a star import also brings `json`, `re`, `os`, `sys`, `datetime`,
`requests`, `demisto`, `Any`/`Dict`/`List`/`Optional`/... into the importing script, which content relies on.
"""

import base64
import binascii
import inspect
import json
import logging
import os
import re
import socket  # noqa: F401 - re-exported by star import, as on the platform
import ssl
import sys
import time
import traceback
import urllib.parse
import xml.etree.ElementTree as ET
from collections import OrderedDict  # noqa: F401 - re-exported by star import
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Dict, List, Optional, Set, Union, cast  # noqa: F401, UP035 - platform re-exports these

import demistomock as demisto
import requests
from requests.adapters import HTTPAdapter
from urllib3 import disable_warnings
from urllib3.util import Retry
from urllib3.util.ssl_ import create_urllib3_context

disable_warnings()  # as on the platform: `verify=False` must not spam InsecureRequestWarning

CONTENT_RELEASE_VERSION = "0.0.0"
CONTENT_BRANCH_NAME = "master"
IS_PY3 = True
PY_VER_MINOR = sys.version_info[1]
STRING_TYPES = (str, bytes)
STRING_OBJ_TYPES = (str,)
MAX_ERROR_MESSAGE_LENGTH = 50000
MASK = "<XX_REPLACED>"

# DEPRECATED on the platform (use EntryType), still used everywhere.
entryTypes = {
    "note": 1,
    "downloadAgent": 2,
    "file": 3,
    "error": 4,
    "pinned": 5,
    "userManagement": 6,
    "image": 7,
    "playgroundError": 8,
    "entryInfoFile": 9,
    "warning": 11,
    "map": 15,
    "debug": 16,
    "widget": 17,
}

# DEPRECATED on the platform (use EntryFormat).
formats = {
    "html": "html",
    "table": "table",
    "json": "json",
    "text": "text",
    "dbotResponse": "dbotCommandResponse",
    "markdown": "markdown",
}


class EntryType:
    """War-room entry types (the `Type` of an entry)."""

    NOTE = 1
    DOWNLOAD_AGENT = 2
    FILE = 3
    ERROR = 4
    PINNED = 5
    USER_MANAGEMENT = 6
    IMAGE = 7
    PLAYGROUND_ERROR = 8
    ENTRY_INFO_FILE = 9
    VIDEO_FILE = 10
    WARNING = 11
    STATIC_VIDEO_FILE = 12
    MAP_ENTRY_TYPE = 15
    WIDGET = 17
    EXECUTION_METRICS = 19


class EntryFormat:
    """War-room entry formats (the `ContentsFormat` of an entry)."""

    HTML = "html"
    TABLE = "table"
    JSON = "json"
    TEXT = "text"
    DBOT_RESPONSE = "dbotCommandResponse"
    MARKDOWN = "markdown"

    @classmethod
    def is_valid_type(cls, _type: str) -> bool:
        return _type in (cls.HTML, cls.TABLE, cls.JSON, cls.TEXT, cls.MARKDOWN, cls.DBOT_RESPONSE)


class IncidentStatus:
    """Incident `status` values."""

    PENDING = 0
    ACTIVE = 1
    DONE = 2
    ARCHIVE = 3


class IncidentSeverity:
    """Incident `severity` values."""

    UNKNOWN = 0
    INFO = 0.5
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4


class DBotScoreType:
    """Indicator types a DBotScore can be about."""

    IP = "ip"
    FILE = "file"
    DOMAIN = "domain"
    URL = "url"
    CVE = "cve"
    ACCOUNT = "account"
    CIDR = ("cidr",)  # the platform really defines this as a one-element tuple
    DOMAINGLOB = "domainglob"
    CERTIFICATE = "certificate"
    CRYPTOCURRENCY = "cryptocurrency"
    EMAIL = "email"
    ATTACKPATTERN = "attackpattern"
    CUSTOM = "custom"

    @classmethod
    def is_valid_type(cls, _type: Any) -> bool:
        return _type in (
            cls.IP,
            cls.FILE,
            cls.DOMAIN,
            cls.URL,
            cls.CVE,
            cls.ACCOUNT,
            cls.CIDR,
            cls.DOMAINGLOB,
            cls.CERTIFICATE,
            cls.CRYPTOCURRENCY,
            cls.EMAIL,
            cls.ATTACKPATTERN,
            cls.CUSTOM,
        )


class DBotScoreReliability:
    """Source reliability levels (case sensitive)."""

    A_PLUS = "A+ - 3rd party enrichment"
    A = "A - Completely reliable"
    B = "B - Usually reliable"
    C = "C - Fairly reliable"
    D = "D - Not usually reliable"
    E = "E - Unreliable"
    F = "F - Reliability cannot be judged"

    @staticmethod
    def is_valid_type(_type: str) -> bool:
        r = DBotScoreReliability
        return _type in (r.A_PLUS, r.A, r.B, r.C, r.D, r.E, r.F)

    @staticmethod
    def get_dbot_score_reliability_from_str(reliability_str: str) -> str:
        if DBotScoreReliability.is_valid_type(reliability_str):
            return reliability_str
        raise Exception("Please use supported reliability only.")


class ErrorTypes:
    """Execution-metrics error categories."""

    SUCCESS = "Successful"
    QUOTA_ERROR = "QuotaError"
    GENERAL_ERROR = "GeneralError"
    AUTH_ERROR = "AuthError"
    SERVICE_ERROR = "ServiceError"
    CONNECTION_ERROR = "ConnectionError"
    PROXY_ERROR = "ProxyError"
    SSL_ERROR = "SSLError"
    TIMEOUT_ERROR = "TimeoutError"
    RETRY_ERROR = "RetryError"


class FeedIndicatorType:
    """Indicator type names used by TIP integrations (the common subset)."""

    Account = "Account"
    CVE = "CVE"
    Domain = "Domain"
    DomainGlob = "DomainGlob"
    Email = "Email"
    File = "File"
    FQDN = "Domain"
    Host = "Host"
    IP = "IP"
    CIDR = "CIDR"
    IPv6 = "IPv6"
    IPv6CIDR = "IPv6CIDR"
    Registry = "Registry Key"
    SSDeep = "ssdeep"
    URL = "URL"


INDICATOR_TYPE_TO_CONTEXT_KEY = {
    "ip": "Address",
    "email": "Address",
    "url": "Data",
    "domain": "Name",
    "cve": "ID",
    "md5": "file",
    "sha1": "file",
    "sha256": "file",
    "crc32": "file",
    "sha512": "file",
    "ctph": "file",
    "ssdeep": "file",
}

outputPaths = {
    "file": "File(val.MD5 && val.MD5 == obj.MD5 || val.SHA1 && val.SHA1 == obj.SHA1 || "
    "val.SHA256 && val.SHA256 == obj.SHA256 || val.SHA512 && val.SHA512 == obj.SHA512 || "
    "val.CRC32 && val.CRC32 == obj.CRC32 || val.CTPH && val.CTPH == obj.CTPH || "
    "val.SSDeep && val.SSDeep == obj.SSDeep)",
    "ip": "IP(val.Address && val.Address == obj.Address)",
    "url": "URL(val.Data && val.Data == obj.Data)",
    "domain": "Domain(val.Name && val.Name == obj.Name)",
    "cve": "CVE(val.ID && val.ID == obj.ID)",
    "email": "Account.Email(val.Address && val.Address == obj.Address)",
    "dbotscore": "DBotScore",
}


class DemistoException(Exception):
    """The exception content raises for expected failures; `res` carries the HTTP response if any."""

    def __init__(
        self, message: Any, exception: Exception | None = None, res: Any = None, error_type: Any = None, *args: Any
    ) -> None:
        self.res = res
        self.message = message
        self.exception = exception
        self.error_type = error_type
        super().__init__(message, exception, error_type, *args)

    def __str__(self) -> str:
        return str(self.message)


# --------------------------------------------------------------------------------------------------
# Calling context helpers
# --------------------------------------------------------------------------------------------------


def is_debug_mode() -> bool:
    """Whether the command ran with `debug-mode=true`."""
    return bool(getattr(demisto, "is_debug", False))


def get_integration_name() -> str:
    """The calling integration's brand."""
    return demisto.callingContext.get("context", {}).get("IntegrationBrand", "")


def get_integration_instance_name() -> str:
    """The calling integration instance."""
    return demisto.callingContext.get("context", {}).get("IntegrationInstance", "")


def get_script_name() -> str:
    """The calling script's name."""
    return demisto.callingContext.get("context", {}).get("ScriptName", "")


def is_integration_command_execution() -> bool:
    """Whether this is an integration command (True) or a script (False), from the calling context."""
    try:
        return demisto.callingContext["context"]["ExecutedCommands"][0]["moduleBrand"] != "Scripts"
    except (KeyError, IndexError, TypeError):
        try:
            return demisto.callingContext["context"]["ScriptName"] == ""
        except (KeyError, IndexError, TypeError):
            return True


class GetDemistoVersion:
    """Callable that caches `demisto.demistoVersion()` (as the platform's `get_demisto_version`)."""

    def __init__(self) -> None:
        self._version: dict[str, Any] | None = None

    def __call__(self) -> dict[str, Any]:
        if self._version is None:
            if not hasattr(demisto, "demistoVersion"):
                raise AttributeError("demistoVersion attribute not found.")
            self._version = demisto.demistoVersion()
        return self._version


get_demisto_version = GetDemistoVersion()


def get_demisto_version_as_str() -> str:
    """`<version>-<build>` for display, or 'Unknown'."""
    try:
        ver = get_demisto_version()
        return "{}-{}".format(ver.get("version", "Unknown"), ver.get("buildNumber", "Unknown"))
    except AttributeError:
        return "Unknown"


def is_demisto_version_ge(version: str, build_number: str = "") -> bool:
    """Whether the server is at least `version` (and build); dev builds compare as True."""

    def zfill(v: str) -> tuple[str, ...]:
        return tuple(part.zfill(8) for part in v.split("."))

    server: dict[str, Any] = {}
    try:
        server = get_demisto_version()
        server_v, wanted = zfill(server.get("version", "")), zfill(version)
        if server_v > wanted:
            return True
        if server_v == wanted:
            return int(server.get("buildNumber", 0)) >= int(build_number) if build_number else True
        return False
    except AttributeError:
        if version >= "5.0.0":
            return False
        raise
    except ValueError:
        demisto.log(f"is_demisto_version_ge: ValueError. input: {version} {build_number}, server: {server}")
        return True


# --------------------------------------------------------------------------------------------------
# Proxy / certificate environment
# --------------------------------------------------------------------------------------------------


def add_http_prefix_if_missing(address: str = "") -> str:
    """Proxy addresses without a scheme get `http://`."""
    if not address:
        return ""
    for prefix in ("http://", "https://", "socks5://", "socks5h://", "socks4://", "socks4a://"):
        if address.startswith(prefix):
            return address
    return "http://" + address


def skip_proxy() -> None:
    """Remove the proxy environment variables so requests go direct."""
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(k, None)


def ensure_proxy_has_http_prefix() -> None:
    """Add the missing scheme to the proxy environment variables."""
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        if os.environ.get(k):
            os.environ[k] = add_http_prefix_if_missing(os.environ[k])


def skip_cert_verification() -> None:
    """Remove the CA bundle variables, which would override `Session.verify`."""
    for k in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        os.environ.pop(k, None)


def handle_proxy(
    proxy_param_name: str = "proxy",
    checkbox_default_value: bool = False,
    handle_insecure: bool = True,
    insecure_param_name: str | None = None,
) -> dict[str, str]:
    """Proxies dict for `requests` from the instance's "use system proxy" / "insecure" checkboxes."""
    proxies: dict[str, str] = {}
    if demisto.params().get(proxy_param_name, checkbox_default_value):
        ensure_proxy_has_http_prefix()
        proxies = {
            "http": os.environ.get("HTTP_PROXY") or os.environ.get("http_proxy", ""),
            "https": os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy", ""),
        }
    else:
        skip_proxy()
    if handle_insecure:
        names = ("insecure", "unsecure") if insecure_param_name is None else (insecure_param_name,)
        for p in names:
            if demisto.params().get(p, False):
                skip_cert_verification()
    return proxies


def urljoin(url: str, suffix: str = "") -> str:
    """Join base URL and suffix with exactly one slash between them."""
    if url[-1:] != "/":
        url = url + "/"
    if suffix.startswith("/"):
        suffix = suffix[1:]
    return url + suffix


# --------------------------------------------------------------------------------------------------
# Entries and errors
# --------------------------------------------------------------------------------------------------


def is_error(execute_command_result: Any) -> bool:
    """Whether an entry, or any entry of an executeCommand result list, is an error entry."""
    if execute_command_result is None:
        return False
    if isinstance(execute_command_result, list):
        for entry in execute_command_result:
            if type(entry) is dict and entry["Type"] == entryTypes["error"]:
                return True
    return type(execute_command_result) is dict and execute_command_result["Type"] == entryTypes["error"]


isError = is_error


def get_error(execute_command_result: Any) -> str:
    """The error text of an entry / the joined texts of all error entries of a result list."""
    if not is_error(execute_command_result):
        raise ValueError("execute_command_result has no error entry. before using get_error use is_error")
    if isinstance(execute_command_result, dict):
        return execute_command_result["Contents"]
    messages = [
        entry["Contents"]
        for entry in execute_command_result
        if type(entry) is dict and entry["Type"] == entryTypes["error"]
    ]
    return "\n".join(messages)


def execute_command(
    command: str, args: dict[str, Any], extract_contents: bool = True, fail_on_error: bool = True
) -> Any:
    """`demisto.executeCommand` with error handling.

    fail_on_error=True: returns the contents (one entry -> its Contents, several -> a list) or raises
    DemistoException("Failed to execute <cmd>. Error details:\\n<errors>"). fail_on_error=False: returns
    (ok, contents-or-error) as the platform does for backward compatibility.
    """
    if not hasattr(demisto, "executeCommand") or demisto.callingContext.get("integration"):
        raise DemistoException("Cannot run demisto.executeCommand() from integrations.")
    res = demisto.executeCommand(command, args)
    if is_error(res):
        error_message = get_error(res)
        if fail_on_error:
            raise DemistoException(f"Failed to execute {command}. Error details:\n{error_message}")
        return False, error_message
    if not extract_contents:
        return res if fail_on_error else (True, res)
    contents = [entry.get("Contents", {}) for entry in res if entry["Type"] != entryTypes["debug"]]
    contents = contents[0] if len(contents) == 1 else contents
    return contents if fail_on_error else (True, contents)


def scoreToReputation(score: float) -> str:
    """Numeric DBot score to its label."""
    return {4: "Critical", 3: "Bad", 2: "Suspicious", 1: "Good", 0.5: "Informational", 0: "Unknown"}.get(score, "None")


# --------------------------------------------------------------------------------------------------
# Strings and encodings
# --------------------------------------------------------------------------------------------------


def b64_encode(text: str | bytes) -> str:
    """Base64 of a string (utf-8) as a string."""
    if not text:
        return ""
    data = text if isinstance(text, bytes) else text.encode("utf-8", "ignore")
    return base64.b64encode(data).decode("utf-8")


def b64_decode(b64_str: str) -> bytes:
    """Base64 decode that tolerates missing padding."""
    b64 = b64_str.encode("ascii")
    b64 += b"=" * (-len(b64) % 4)
    return binascii.a2b_base64(b64)


def encode_string_results(text: Any) -> Any:
    """Strings come back as `str`; anything else unchanged."""
    if not isinstance(text, STRING_OBJ_TYPES):
        return text
    return str(text)  # Python 2 needed utf-8 re-encoding here; Python 3 strings are already text


def stringEscape(st: str) -> str:
    """Escape CR/LF/TAB as literal backslash sequences."""
    return st.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")


def stringUnEscape(st: str) -> str:
    """Inverse of stringEscape."""
    return st.replace("\\r", "\r").replace("\\n", "\n").replace("\\t", "\t")


MARKDOWN_CHARS = r"\`*_{}[]()#+-!|"


def stringEscapeMD(st: str, minimal_escaping: bool = False, escape_multiline: bool = False) -> str:
    """Escape what would break markdown (table cells: only `|` and backtick, newlines as <br>)."""
    if escape_multiline:
        st = st.replace("\r\n", "<br>").replace("\r", "<br>").replace("\n", "<br>")
    if minimal_escaping:
        for c in ("|", "`"):
            st = st.replace(c, "\\" + c)
        return st
    return "".join("\\" + str(c) if c in MARKDOWN_CHARS else str(c) for c in st)


def underscoreToCamelCase(s: Any, upper_camel: bool = True) -> Any:
    """hello_world -> HelloWorld (or helloWorld); non-strings unchanged."""
    if not isinstance(s, STRING_OBJ_TYPES):
        return s
    components = s.split("_")
    rest = "".join(x.title() for x in components[1:])
    return (components[0].title() if upper_camel else components[0].lower()) + rest


def camelize_string(src_str: str, delim: str = "_", upper_camel: bool = True) -> str:
    """snake_case -> CamelCase with a chosen delimiter."""
    if not src_str:
        return ""
    components = src_str.split(delim)
    rest = "".join(x.title() for x in components[1:])
    return (components[0].title() if upper_camel else components[0].lower()) + rest


def camelize(src: Any, delim: str = " ", upper_camel: bool = True) -> Any:
    """CamelCase every key of a dict (or of each dict in a list)."""
    if isinstance(src, list):
        return [camelize(item, delim, upper_camel=upper_camel) for item in src]
    return {
        camelize_string(k.decode("utf-8") if isinstance(k, bytes) else k, delim, upper_camel): v for k, v in src.items()
    }


def camel_case_to_underscore(s: str) -> str:
    """helloWorld -> hello_world."""
    s1 = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", s)
    return re.sub("([a-z0-9])([A-Z])", r"\1_\2", s1).lower()


def snakify(src: dict[str, Any]) -> dict[str, Any]:
    """snake_case every key of a dict."""
    return {camel_case_to_underscore(k): v for k, v in src.items()}


pascalRegex = re.compile("([A-Z]?[a-z]+)")


def pascalToSpace(s: Any) -> Any:
    """ThreatScore -> 'Threat Score', thisIsIPAddress -> 'This Is IP Address' (a headerTransform)."""
    if not isinstance(s, STRING_OBJ_TYPES):
        return s
    s = re.sub(pascalRegex, lambda m: f" {m.group(1).title()} ", s)
    return " ".join(s.split())


def string_to_table_header(string: Any) -> str:
    """one_two -> 'One Two' (a headerTransform)."""
    if isinstance(string, STRING_OBJ_TYPES):
        return " ".join(word.capitalize() for word in string.replace("_", " ").split())
    raise Exception(f"The key is not a string: {string}")


def string_to_context_key(string: Any) -> str:
    """one_two -> OneTwo."""
    if isinstance(string, STRING_OBJ_TYPES):
        return "".join(word.capitalize() for word in string.split("_"))
    raise Exception(f"The key is not a string: {string}")


# --------------------------------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------------------------------


def argToList(arg: Any, separator: str = ",", transform: Callable[[Any], Any] | None = None) -> list[Any]:
    """An argument as a list: a list stays, a JSON list string is parsed, other strings are split and
    stripped, any other truthy value is wrapped; falsy values give []."""
    if not arg:
        return []
    result: list[Any] = []
    if isinstance(arg, list):
        result = arg
    elif isinstance(arg, STRING_TYPES):
        is_comma_separated = True
        if arg[0] in ("[", ord("[")) and arg[-1] in ("]", ord("]")):
            try:
                result = json.loads(arg)
                is_comma_separated = False
            except Exception:
                demisto.debug(f"Failed to load {arg!r} as JSON, trying to split")
        if is_comma_separated:
            if isinstance(arg, bytes):
                arg = arg.decode("utf-8")
            result = [s.strip() for s in arg.split(separator)]
    else:
        result = [arg]
    if transform:
        return [transform(s) for s in result]
    return result


def remove_duplicates_from_list_arg(args: dict[str, Any], field: str) -> list[Any]:
    """argToList(args[field]) without duplicates (order not kept, as on the platform)."""
    return list(set(argToList(args.get(field))))


def argToBoolean(value: Any) -> bool:
    """bool stays; 'true'/'yes' and 'false'/'no' (any case) convert; anything else is a ValueError."""
    if isinstance(value, bool):
        return value
    if isinstance(value, STRING_OBJ_TYPES):
        if value.lower() in ["true", "yes"]:
            return True
        if value.lower() in ["false", "no"]:
            return False
        raise ValueError("Argument does not contain a valid boolean-like value")
    raise ValueError("Argument is neither a string nor a boolean")


def arg_to_number(arg: Any, arg_name: str | None = None, required: bool = False) -> int | None:
    """An argument as int ('12', '1.9' -> 1, 12); None/'' -> None unless required (ValueError)."""
    if arg is None or arg == "":
        if required is True:
            if arg_name:
                raise ValueError(f'Missing "{arg_name}"')
            raise ValueError("Missing required argument")
        return None
    arg = encode_string_results(arg)
    if isinstance(arg, str):
        if arg.isdigit():
            return int(arg)
        try:
            return int(float(arg))
        except Exception:
            if arg_name:
                raise ValueError(f'Invalid number: "{arg_name}"="{arg}"') from None
            raise ValueError(f'"{arg}" is not a valid number') from None
    if isinstance(arg, int):
        return arg
    if arg_name:
        raise ValueError(f'Invalid number: "{arg_name}"="{arg}"')
    raise ValueError(f'"{arg}" is not a valid number')


_RELATIVE = re.compile(r"^\s*(\d+)\s*(second|minute|hour|day|week|month|year)s?(\s+ago)?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {
    "second": 1,
    "minute": 60,
    "hour": 3600,
    "day": 86400,
    "week": 604800,
    "month": 2592000,
    "year": 31536000,
}


def _parse_date_text(text: str) -> datetime | None:
    try:
        import dateparser  # type: ignore[import-not-found]

        return dateparser.parse(text, settings={"TIMEZONE": "UTC"})  # pragma: no cover - not in the test venv
    except ImportError:  # pragma: no cover - depends on the image
        pass
    m = _RELATIVE.match(text)
    if m:
        delta = timedelta(seconds=int(m.group(1)) * _UNIT_SECONDS[m.group(2).lower()])
        return datetime.now(UTC) - delta
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def arg_to_datetime(
    arg: Any, arg_name: str | None = None, is_utc: bool = True, required: bool = False, settings: dict | None = None
) -> datetime | None:
    """An argument as datetime: epoch seconds/ms, ISO 8601, or 'N units (ago)'.

    The platform uses dateparser; when it is not installed this double understands ISO 8601 and simple
    relative phrases, which is what the packs pass.
    """
    if arg is None:
        if required is True:
            if arg_name:
                raise ValueError(f'Missing "{arg_name}"')
            raise ValueError("Missing required argument")
        return None
    if (isinstance(arg, str) and arg.isdigit()) or isinstance(arg, int | float):
        ms = float(arg)
        if ms > 2000000000.0:
            ms = ms / 1000.0
        if is_utc:
            return datetime.fromtimestamp(ms, tz=UTC)
        return datetime.fromtimestamp(ms)
    if isinstance(arg, str):
        date = _parse_date_text(arg)
        if date is None:
            if arg_name:
                raise ValueError(f'Invalid date: "{arg_name}"="{arg}"')
            raise ValueError(f'"{arg}" is not a valid date')
        return date
    if arg_name:
        raise ValueError(f'Invalid date: "{arg_name}"="{arg}"')
    raise ValueError(f'"{arg}" is not a valid date')


def assign_params(
    keys_to_ignore: Iterable[str] | None = None, values_to_ignore: Iterable[Any] | None = None, **kwargs: Any
) -> dict[str, Any]:
    """kwargs without empty values (None, '', [], {}, ()) or the given ignored keys/values."""
    ignored_values = list(values_to_ignore) if values_to_ignore is not None else [None, "", [], {}, ()]
    ignored_keys = set(keys_to_ignore or ())
    return {k: v for k, v in kwargs.items() if v not in ignored_values and k not in ignored_keys}


def remove_nulls_from_dictionary(data: dict[str, Any]) -> None:
    """Drop empty values from a dict, in place."""
    for key in list(data.keys()):
        if data[key] in ("", None, [], {}, ()):
            del data[key]


def remove_empty_elements(d: Any) -> Any:
    """Recursively drop None, {} and [] from dicts and lists (empty strings and 0 stay)."""

    def empty(x: Any) -> bool:
        return x is None or x == {} or x == []

    if not isinstance(d, dict | list):
        return d
    if isinstance(d, list):
        return [v for v in (remove_empty_elements(v) for v in d) if not empty(v)]
    return {k: v for k, v in ((k, remove_empty_elements(v)) for k, v in d.items()) if not empty(v)}


_MODULES_LINE_MAPPING: dict[str, dict[str, Any]] = {}


def register_module_line(module_name: str, start_end: str, line: int, wrapper: int = 0) -> None:
    """Record where an inlined ApiModule starts/ends in a unified script (the unifier emits these calls).

    The platform uses the mapping to fix traceback line numbers; like the real one, bad arguments are ignored
    rather than allowed to break the script.
    """
    if start_end not in ("start", "end") or not isinstance(line, int) or line < 0:
        return
    info = _MODULES_LINE_MAPPING.setdefault(module_name, {"start": 0, "start_wrapper": 0,
                                                          "end": float("inf"), "end_wrapper": float("inf")})
    info[start_end] = line
    info[f"{start_end}_wrapper"] = line + wrapper


def __line__() -> int:
    """The caller's line number (used by the unifier's register_module_line calls)."""
    frame = inspect.currentframe()
    return frame.f_back.f_lineno if frame is not None and frame.f_back is not None else 0


def dict_safe_get(
    dict_object: Any,
    keys: list[Any],
    default_return_value: Any = None,
    return_type: Any = None,
    raise_return_type: bool = True,
) -> Any:
    """Nested get over dicts and lists; the default when a key is missing (or the type is wrong)."""
    return_value = dict_object
    for key in keys:
        try:
            return_value = return_value[key]
        except (KeyError, TypeError, IndexError, AttributeError):
            return_value = default_return_value
            break
    if return_type and not isinstance(return_value, return_type):
        if raise_return_type:
            raise TypeError(
                f"Safe get Error:\nDetails: Return Type Error Excepted return type {return_type},"
                f" but actual type from nested dict/list is {type(return_value)} with value {return_value}.\n"
                f"Query: {keys}\nQueried object: {dict_object}"
            )
        return_value = default_return_value
    return return_value


def batch(iterable: Any, batch_size: int = 1) -> Any:
    """Yield successive slices of `batch_size`."""
    current, rest = iterable[:batch_size], iterable[batch_size:]
    while current:
        yield current
        current, rest = rest[:batch_size], rest[batch_size:]


class SmartGetDict(dict):  # type: ignore[type-arg]
    """dict whose get() also returns the default when the stored value is None."""

    def get(self, key: Any, default: Any = None) -> Any:
        res = dict.get(self, key)
        return default if res is None else res


# --------------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------------


def timestamp_to_datestring(
    timestamp: int | str, date_format: str = "%Y-%m-%dT%H:%M:%S.000Z", is_utc: bool = False
) -> str:
    """Epoch milliseconds to a date string (UTC when asked or when the format ends with Z)."""
    if is_utc or date_format.endswith("Z"):
        return datetime.fromtimestamp(int(timestamp) / 1000.0, tz=UTC).strftime(date_format)
    return datetime.fromtimestamp(int(timestamp) / 1000.0).strftime(date_format)


def date_to_timestamp(date_str_or_dt: str | datetime, date_format: str = "%Y-%m-%dT%H:%M:%S") -> int:
    """A date string in `date_format` (local time) or a datetime to epoch milliseconds."""
    if isinstance(date_str_or_dt, STRING_OBJ_TYPES):
        return int(time.mktime(time.strptime(date_str_or_dt, date_format)) * 1000)
    return int(time.mktime(date_str_or_dt.timetuple()) * 1000)


def parse_date_string(date_string: str, date_format: str = "%Y-%m-%dT%H:%M:%S") -> datetime:
    """Parse an ISO-like string; when `date_format` does not fit, fractions and the zone suffix are
    recognised from the strptime error and added to the format (naive result, as on the platform)."""
    try:
        return datetime.strptime(date_string, date_format)
    except ValueError as e:
        message = str(e)
        date_format = "%Y-%m-%dT%H:%M:%S"
        sliced = ""
        match = re.findall(r"time data \'(.*?)\'", message)
        if match:
            sliced = match[0][19:]
        else:
            remains = re.findall(r"unconverted data remains: (.*)", message)
            if remains:
                sliced = remains[0]
        if not sliced:
            raise ValueError(e) from e
        if "." in sliced:
            date_format += ".%f"
        zone = re.findall(r"[Zz+-].*", sliced)
        if zone:
            date_format += zone[0]
        date_string = re.sub(r"([0-9]+\.[0-9]{6})[0-9]*([Zz]|[+-]\S+?)?", "\\1\\2", date_string)
        return datetime.strptime(date_string, date_format)


# --------------------------------------------------------------------------------------------------
# Logging
# --------------------------------------------------------------------------------------------------


class IntegrationLogger:
    """`LOG(msg)` buffers messages (masking registered secrets); `LOG.print_log()` flushes them to the
    server log. return_error uses it, as on the platform."""

    def __init__(self, debug_logging: bool = False) -> None:
        self.messages: list[str] = []
        self.replace_strs: list[str] = []
        self.buffering = True
        self.debug_logging = debug_logging

    def encode(self, message: Any) -> str:
        res = str(message)
        for s in self.replace_strs:
            res = res.replace(s, MASK)
        return res

    def __call__(self, message: Any) -> str:
        text = self.encode(message)
        if self.buffering:
            self.messages.append(text)
            if self.debug_logging:
                demisto.debug(text)
        else:
            demisto.info(text)
        return text

    def add_replace_strs(self, *args: Any) -> None:
        """Strings to mask in every later message (secrets)."""
        for a in args:
            if a:
                a = self.encode(a)
                js = json.dumps(a)[1:-1]
                self.replace_strs.extend(
                    {stringEscape(a), stringUnEscape(a), a.replace("\\", "\\\\"), js, urllib.parse.quote_plus(a)}
                )

    def set_buffering(self, state: bool) -> None:
        self.buffering = state

    def print_log(self, verbose: bool = False) -> None:
        if self.messages:
            text = "Full Integration Log:\n" + "\n".join(self.messages)
            if verbose:
                demisto.log(text)
            if not self.debug_logging:
                demisto.info(text)
            self.messages = []


LOG = IntegrationLogger(debug_logging=is_debug_mode())


def add_sensitive_log_strs(sensitive_str: str) -> None:
    """Mask `sensitive_str` in LOG output."""
    LOG.add_replace_strs(sensitive_str)


# --------------------------------------------------------------------------------------------------
# Markdown tables
# --------------------------------------------------------------------------------------------------


def flattenCell(data: Any, is_pretty: bool = True) -> str:
    """A table cell as one string: strings as is, lists joined with ',\\n', others as JSON."""
    if isinstance(data, STRING_TYPES):
        return data.decode("utf-8") if isinstance(data, bytes) else data
    if isinstance(data, list):
        return ",\n".join(d.decode("utf-8") if isinstance(d, bytes) else str(d) for d in data)
    return json.dumps(data, indent=4 if is_pretty else None, ensure_ascii=False, default=str)


class JsonTransformer:
    """How a complex cell value is rendered in tableToMarkdown (flatten = the historic JSON/list format)."""

    def __init__(
        self,
        flatten: bool = False,
        keys: Iterable[str] | None = None,
        is_nested: bool = False,
        func: Callable[[Any], str] | None = None,
    ) -> None:
        self.keys = set(keys or [])
        self.is_nested = is_nested
        self.func = func
        self.flatten = flatten

    def json_to_str(self, json_input: Any, is_pretty: bool = True) -> str:
        if self.func:
            return self.func(json_input)
        if isinstance(json_input, STRING_TYPES):
            return flattenCell(json_input)
        if self.flatten:
            if not isinstance(json_input, dict):
                return flattenCell(json_input, is_pretty)
            return "\n".join(f"{k}: {flattenCell(v, is_pretty)}" for k, v in json_input.items())
        lines: list[str] = []
        prev_path: list[Any] = []
        for path, key, val in self.json_to_path_generator(json_input):
            str_path = ""
            full_tabs = "\t" * len(path)
            if path != prev_path:
                common = len(os.path.commonprefix([prev_path, path]))
                parts = []
                for i, p in enumerate(path[common:]):
                    is_list = isinstance(p, int)
                    tabs = (common + i) * "\t"
                    parts.append(f"{tabs}**{'-' if is_list else p}**{'' if is_list else ':' + chr(10)}")
                str_path = "".join(parts)
                prev_path = path
                if path and isinstance(path[-1], int):
                    full_tabs = "\t"
            lines.append(f"{str_path}{full_tabs}***{key}***: {flattenCell(val, is_pretty)}")
        return "\n".join(lines)

    def json_to_path_generator(self, json_input: Any, path: list[Any] | None = None) -> Any:
        path = path or []
        is_in_path = not self.keys or any(p for p in path if p in self.keys)
        if isinstance(json_input, dict):
            for k, v in json_input.items():
                if is_in_path or k in self.keys:
                    if not isinstance(v, dict | list):
                        yield path, k, v
                    else:
                        yield from self.json_to_path_generator(v, path + [k])
                elif self.is_nested:
                    yield from self.json_to_path_generator(v, path + [k])
        if isinstance(json_input, list):
            if not json_input or not isinstance(json_input[0], list | dict):
                yield path, "values", ", ".join(str(x) for x in json_input)
            else:
                for i, item in enumerate(json_input):
                    yield from self.json_to_path_generator(item, path + [i])


def formatCell(data: Any, is_pretty: bool = True, json_transform: JsonTransformer | None = None) -> str:
    """One table cell as a string (see JsonTransformer)."""
    if json_transform is None:
        json_transform = JsonTransformer(flatten=True)
    return json_transform.json_to_str(data, is_pretty)


def create_clickable_url(url: Any, text: Any = None) -> Any:
    """`[text](url)` (or a list of them)."""
    if not url:
        return None
    if isinstance(url, list):
        if isinstance(text, list):
            assert len(url) == len(text), "The URL list and the text list must be the same length."
            return [f"[{t}]({u})" for t, u in zip(text, url, strict=True)]
        return [f"[{u}]({u})" for u in url]
    return f"[{text or url}]({url})"


def url_to_clickable_markdown(data: Any, url_keys: list[str]) -> Any:
    """Make the values of `url_keys` clickable, recursively."""
    if isinstance(data, list):
        return [url_to_clickable_markdown(item, url_keys) for item in data]
    if isinstance(data, dict):
        return {
            k: create_clickable_url(v) if k in url_keys else url_to_clickable_markdown(v, url_keys)
            for k, v in data.items()
        }
    return data


def tableToMarkdown(
    name: str,
    t: Any,
    headers: Any = None,
    headerTransform: Callable[[str], str] | None = None,
    removeNull: bool = False,
    metadata: str | None = None,
    url_keys: list[str] | None = None,
    date_fields: list[str] | None = None,
    json_transform_mapping: dict[str, JsonTransformer] | None = None,
    is_auto_json_transform: bool = False,
    sort_headers: bool = True,
) -> str:
    """A dict / list of dicts as a markdown table, exactly as the platform renders it:
    `### name\\n|h1|h2|\\n|---|---|\\n| v1 | v2 |\\n`, or `**No entries.**` when empty.

    Headers: the given order; otherwise the first row's keys, sorted unless sort_headers=False.
    """
    if url_keys:
        t = url_to_clickable_markdown(t, url_keys)
    md = ""
    if name:
        md = "### " + name + "\n"
    if metadata:
        md += metadata + "\n"
    if not t or len(t) == 0:
        md += "**No entries.**\n"
        return md
    if not headers and isinstance(t, dict) and len(t.keys()) == 1:
        # a single key: one column holding that key's values
        headers = list(t.keys())
        t = list(t.values())[0]
    if not isinstance(t, list):
        t = [t]
    if headers and isinstance(headers, STRING_TYPES):
        headers = [headers]
    if not isinstance(t[0], dict):
        if headers and len(headers) > 0:
            t = [{headers[0]: item} for item in t]
        else:
            raise Exception("Missing headers param for tableToMarkdown. Example: headers=['Some Header']")
    if not headers:
        headers = list(t[0].keys())
        if sort_headers:
            headers.sort()
    if removeNull:
        headers = [h for h in headers if not all(obj.get(h) in ("", None, [], {}) for obj in t)]
    if not json_transform_mapping:
        json_transform_mapping = {h: JsonTransformer(flatten=not is_auto_json_transform) for h in headers}
    if t and len(headers) > 0:
        transform = headerTransform or (lambda s: stringEscapeMD(s, True, True))
        md += "|" + "|".join(transform(h) for h in headers) + "|\n"
        md += "|" + "|".join(["---"] * len(headers)) + "|\n"
        for entry in t:
            row = entry.copy()
            for f in date_fields or []:
                try:
                    row[f] = datetime.fromtimestamp(int(row[f]) / 1000).strftime("%Y-%m-%d %H:%M:%S")
                except Exception:  # noqa: S110 - unparsable dates stay as they are (platform behaviour)
                    pass
            vals = [
                stringEscapeMD(
                    formatCell(row.get(h, ""), False, json_transform_mapping.get(h)) if row.get(h) is not None else "",
                    True,
                    True,
                )
                for h in headers
            ]
            md += "| " + " | ".join(vals) + " |\n"
    else:
        md += "**No entries.**\n"
    return md


tblToMd = tableToMarkdown


# --------------------------------------------------------------------------------------------------
# Context
# --------------------------------------------------------------------------------------------------


def appendContext(key: str, data: Any, dedup: bool = False) -> None:
    """Append to the value at a context path (strings join with ',', dicts/lists become lists)."""
    if data is None:
        return
    existing = demisto.get(demisto.context(), key)
    if existing:
        if isinstance(existing, STRING_TYPES):
            new_val: Any = data + "," + existing if isinstance(data, STRING_TYPES) else data + existing
        elif isinstance(existing, dict):
            if isinstance(data, dict):
                new_val = [existing, data]
            elif isinstance(data, list) and all(isinstance(d, dict) for d in data):
                new_val = [existing] + data
            else:
                new_val = data + existing  # raises the self-explanatory TypeError, as on the platform
        elif isinstance(existing, list):
            if isinstance(data, list):
                existing.extend(data)
            else:
                existing.append(data)
            new_val = existing
        else:
            new_val = [existing, data]
        if dedup and isinstance(new_val, list):
            new_val = list(set(new_val))
        demisto.setContext(key, new_val)
    else:
        demisto.setContext(key, data)


def _files_dir() -> str:
    session_getter = getattr(demisto, "get_session", None)
    if callable(session_getter):
        return getattr(session_getter(), "files_dir", None) or ""
    return ""


def fileResult(filename: str, data: str | bytes, file_type: int | None = None) -> dict[str, Any]:
    """Write `data` as `<investigation id>_<unique name>` and return the Type 3 file entry for it."""
    if file_type is None:
        file_type = entryTypes["file"]
    temp = demisto.uniqueFile()
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(_files_dir(), demisto.investigation()["id"] + "_" + temp), "wb") as f:
        f.write(data)
    if isinstance(filename, str) and "../" in filename:
        # the platform would look for the file in a parent folder and show an empty file
        replaced = filename.replace("../", "")
        demisto.debug(f"replaced {filename} with new file name {replaced}")
        filename = replaced
    return {"Contents": "", "ContentsFormat": formats["text"], "Type": file_type, "File": filename, "FileID": temp}


def get_integration_context(sync: bool = True, with_version: bool = False) -> dict[str, Any]:
    """The instance's integration context (versioned store on servers >= 6.0)."""
    if is_versioned_context_available():
        integration_context = demisto.getIntegrationContextVersioned(sync)
        return integration_context if with_version else integration_context.get("context", {})
    return demisto.getIntegrationContext()


def set_integration_context(context: dict[str, Any], sync: bool = True, version: int = -1) -> Any:
    """Store the instance's integration context."""
    if is_versioned_context_available():
        return demisto.setIntegrationContextVersioned(context, version, sync)
    return demisto.setIntegrationContext(context)


def is_versioned_context_available() -> bool:
    return is_demisto_version_ge("6.0.0")


# --------------------------------------------------------------------------------------------------
# Indicators
# --------------------------------------------------------------------------------------------------


class Common:
    """Standard indicator objects for CommandResults(indicator=...)."""

    class Indicator:
        """Interface of indicator classes."""

        def to_context(self) -> dict[str, Any]:
            raise NotImplementedError

        @staticmethod
        def create_context_table(data: Iterable[Any]) -> list[Any]:
            return [item.to_context() for item in data]

    class DBotScore:
        """The DBot verdict of one indicator by one vendor."""

        NONE = 0
        GOOD = 1
        SUSPICIOUS = 2
        BAD = 3

        CONTEXT_PATH = (
            "DBotScore(val.Indicator && val.Indicator == obj.Indicator && val.Vendor == obj.Vendor "
            "&& val.Type == obj.Type)"
        )
        CONTEXT_PATH_PRIOR_V5_5 = "DBotScore"

        def __init__(
            self,
            indicator: str,
            indicator_type: Any,
            integration_name: str = "",
            score: int | None = None,
            malicious_description: str | None = None,
            reliability: str | None = None,
            message: str | None = None,
        ) -> None:
            if not DBotScoreType.is_valid_type(indicator_type):
                raise TypeError("indicator_type must be of type DBotScoreType enum")
            if not Common.DBotScore.is_valid_score(score):
                raise TypeError("indicator `score` must be of type DBotScore enum")
            if reliability and not DBotScoreReliability.is_valid_type(reliability):
                raise TypeError("reliability must be of type DBotScoreReliability enum")
            self.indicator = indicator
            self.indicator_type = indicator_type
            if demisto.callingContext.get("integration"):
                # integrations: the platform fills in the calling integration's brand
                self.integration_name = get_integration_name() or integration_name
            else:
                self.integration_name = integration_name
            self.score = score
            self.malicious_description = malicious_description
            self.reliability = reliability
            self.message = message

        @staticmethod
        def is_valid_score(score: Any) -> bool:
            d = Common.DBotScore
            return score in (d.NONE, d.GOOD, d.SUSPICIOUS, d.BAD)

        @staticmethod
        def get_context_path() -> str:
            return Common.DBotScore.CONTEXT_PATH

        def to_context(self) -> dict[str, Any]:
            dbot: dict[str, Any] = {
                "Indicator": self.indicator,
                "Type": self.indicator_type,
                "Vendor": self.integration_name,
                "Score": self.score,
            }
            if self.reliability:
                dbot["Reliability"] = self.reliability
            if self.message:
                dbot["Message"] = self.message
            return {Common.DBotScore.get_context_path(): dbot}

        def to_readable(self) -> str:
            return {0: "Unknown", 1: "Good", 2: "Suspicious", 3: "Bad"}.get(self.score, "Undefined")  # type: ignore

    class IP(Indicator):
        """IP indicator (context standard `IP`)."""

        CONTEXT_PATH = "IP(val.Address && val.Address == obj.Address)"

        def __init__(
            self,
            ip: str,
            dbot_score: "Common.DBotScore",
            asn: Any = None,
            as_owner: Any = None,
            region: Any = None,
            port: Any = None,
            internal: Any = None,
            updated_date: Any = None,
            registrar_abuse_name: Any = None,
            registrar_abuse_address: Any = None,
            registrar_abuse_country: Any = None,
            registrar_abuse_network: Any = None,
            registrar_abuse_phone: Any = None,
            registrar_abuse_email: Any = None,
            campaign: Any = None,
            traffic_light_protocol: Any = None,
            community_notes: Any = None,
            publications: Any = None,
            threat_types: Any = None,
            hostname: Any = None,
            geo_latitude: Any = None,
            geo_longitude: Any = None,
            geo_country: Any = None,
            geo_description: Any = None,
            detection_engines: Any = None,
            positive_engines: Any = None,
            organization_name: Any = None,
            organization_type: Any = None,
            feed_related_indicators: Any = None,
            tags: Any = None,
            malware_family: Any = None,
            relationships: Any = None,
            blocked: Any = None,
            description: Any = None,
            stix_id: Any = None,
            whois_records: Any = None,
            organization_prevalence: Any = None,
            global_prevalence: Any = None,
            organization_first_seen: Any = None,
            organization_last_seen: Any = None,
            first_seen_by_source: Any = None,
            last_seen_by_source: Any = None,
            ip_type: str = "IP",
        ) -> None:
            self.ip = ip
            self.ip_type = ip_type
            self.asn, self.as_owner, self.region, self.port = asn, as_owner, region, port
            self.internal, self.updated_date, self.stix_id, self.blocked = internal, updated_date, stix_id, blocked
            self.registrar_abuse = {
                "Name": registrar_abuse_name,
                "Address": registrar_abuse_address,
                "Country": registrar_abuse_country,
                "Network": registrar_abuse_network,
                "Phone": registrar_abuse_phone,
                "Email": registrar_abuse_email,
            }
            self.campaign, self.traffic_light_protocol, self.description = campaign, traffic_light_protocol, description
            self.community_notes, self.publications, self.threat_types = community_notes, publications, threat_types
            self.whois_records, self.feed_related_indicators = whois_records, feed_related_indicators
            self.hostname = hostname
            self.geo_latitude, self.geo_longitude = geo_latitude, geo_longitude
            self.geo_country, self.geo_description = geo_country, geo_description
            self.detection_engines, self.positive_engines = detection_engines, positive_engines
            self.organization_name, self.organization_type = organization_name, organization_type
            self.tags, self.malware_family, self.relationships = tags, malware_family, relationships
            self.organization_prevalence, self.global_prevalence = organization_prevalence, global_prevalence
            self.organization_first_seen, self.organization_last_seen = organization_first_seen, organization_last_seen
            self.first_seen_by_source, self.last_seen_by_source = first_seen_by_source, last_seen_by_source
            if not isinstance(dbot_score, Common.DBotScore):
                raise ValueError("dbot_score must be of type DBotScore")
            self.dbot_score = dbot_score

        def to_context(self) -> dict[str, Any]:
            ctx: dict[str, Any] = {"Address": self.ip}
            simple = [
                ("Blocked", self.blocked),
                ("ASN", self.asn),
                ("ASOwner", self.as_owner),
                ("Region", self.region),
                ("Port", self.port),
                ("Internal", self.internal),
                ("STIXID", self.stix_id),
                ("UpdatedDate", self.updated_date),
            ]
            ctx.update({k: v for k, v in simple if v})
            abuse = {k: v for k, v in self.registrar_abuse.items() if v}
            if abuse:
                ctx["Registrar"] = {"Abuse": abuse}
            simple = [
                ("Campaign", self.campaign),
                ("Description", self.description),
                ("TrafficLightProtocol", self.traffic_light_protocol),
            ]
            ctx.update({k: v for k, v in simple if v})
            for key, items in (
                ("CommunityNotes", self.community_notes),
                ("Publications", self.publications),
                ("ThreatTypes", self.threat_types),
                ("WhoisRecords", self.whois_records),
            ):
                if items:
                    ctx[key] = self.create_context_table(items)
            if self.hostname:
                ctx["Hostname"] = self.hostname
            if self.geo_latitude or self.geo_country or self.geo_description:
                geo: dict[str, Any] = {}
                if self.geo_latitude and self.geo_longitude:
                    geo["Location"] = f"{self.geo_latitude}:{self.geo_longitude}"
                if self.geo_country:
                    geo["Country"] = self.geo_country
                if self.geo_description:
                    geo["Description"] = self.geo_description
                ctx["Geo"] = geo
            if self.organization_name or self.organization_type:
                org: dict[str, Any] = {}
                if self.organization_name:
                    org["Name"] = self.organization_name
                if self.organization_type:
                    org["Type"] = self.organization_type
                ctx["Organization"] = org
            if self.detection_engines is not None:
                ctx["DetectionEngines"] = self.detection_engines
            if self.positive_engines is not None:
                ctx["PositiveDetections"] = self.positive_engines
            if self.feed_related_indicators:
                ctx["FeedRelatedIndicators"] = self.create_context_table(self.feed_related_indicators)
            if self.tags:
                ctx["Tags"] = self.tags
            if self.malware_family:
                ctx["MalwareFamily"] = self.malware_family
            if self.organization_prevalence is not None:
                ctx["OrganizationPrevalence"] = self.organization_prevalence
            if self.global_prevalence is not None:
                ctx["GlobalPrevalence"] = self.global_prevalence
            simple = [
                ("OrganizationFirstSeen", self.organization_first_seen),
                ("OrganizationLastSeen", self.organization_last_seen),
                ("FirstSeenBySource", self.first_seen_by_source),
                ("LastSeenBySource", self.last_seen_by_source),
            ]
            ctx.update({k: v for k, v in simple if v})
            if self.dbot_score and self.dbot_score.score == Common.DBotScore.BAD:
                ctx["Malicious"] = {
                    "Vendor": self.dbot_score.integration_name,
                    "Description": self.dbot_score.malicious_description,
                }
            if self.relationships:
                ctx["Relationships"] = [r.to_context() for r in self.relationships if r.to_context()]
            path = Common.IP.CONTEXT_PATH if self.ip_type != "IPv6" else Common.IP.CONTEXT_PATH.replace("IP", "IPv6")
            ret: dict[str, Any] = {path: ctx}
            if self.dbot_score:
                ret.update(self.dbot_score.to_context())
            return ret


class IndicatorsTimeline:
    """Indicator timeline items for CommandResults(indicators_timeline=...)."""

    def __init__(
        self, indicators: list[str] | None = None, category: str | None = None, message: str | None = None
    ) -> None:
        default_category = "Integration Update" if demisto.callingContext.get("integration") else "Automation Update"
        self.indicators_timeline: list[dict[str, Any]] = []
        for indicator in indicators or []:
            item = {"Value": indicator, "Category": category or default_category}
            if message:
                item["Message"] = message
            self.indicators_timeline.append(item)


class EntityRelationship:
    """A relationship between two indicators (the common part of the platform class)."""

    _REVERSE = {
        "related-to": "related-to",
        "communicates-with": "communicated-by",
        "communicated-by": "communicates-with",
        "resolves-to": "resolved-from",
        "resolved-from": "resolves-to",
        "contains": "part-of",
        "part-of": "contains",
        "indicator-of": "indicated-by",
        "indicated-by": "indicator-of",
        "uses": "used-by",
        "used-by": "uses",
        "attributed-to": "attributed-by",
        "attributed-by": "attributed-to",
        "hosts": "hosted-on",
        "hosted-on": "hosts",
        "drops": "dropped-by",
        "dropped-by": "drops",
        "targets": "targeted-by",
        "targeted-by": "targets",
    }

    def __init__(
        self,
        name: str,
        entity_a: str,
        entity_a_type: str,
        entity_b: str,
        entity_b_type: str,
        reverse_name: str = "",
        relationship_type: str = "IndicatorToIndicator",
        entity_a_family: str = "Indicator",
        entity_b_family: str = "Indicator",
        source_reliability: str = "",
        fields: dict[str, Any] | None = None,
        brand: str = "",
    ) -> None:
        if relationship_type != "IndicatorToIndicator":
            raise ValueError("Invalid relationship type: " + relationship_type)
        for family in (entity_a_family, entity_b_family):
            if family != "Indicator":
                raise ValueError("Invalid entity Family type: " + family)
        if source_reliability and not DBotScoreReliability.is_valid_type(source_reliability):
            raise ValueError("Invalid source reliability value", source_reliability)
        self._name = name
        self._reverse_name = reverse_name or self._REVERSE.get(name, "related-to")
        self._relationship_type = relationship_type
        self._entity_a, self._entity_a_type, self._entity_a_family = entity_a, entity_a_type, entity_a_family
        self._entity_b, self._entity_b_type, self._entity_b_family = entity_b, entity_b_type, entity_b_family
        self._source_reliability = source_reliability
        self._fields = fields or {}
        self._brand = brand

    def to_entry(self) -> dict[str, Any]:
        if not self._entity_b:
            return {}
        entry = {
            "name": self._name,
            "reverseName": self._reverse_name,
            "type": self._relationship_type,
            "entityA": self._entity_a,
            "entityAFamily": self._entity_a_family,
            "entityAType": self._entity_a_type,
            "entityB": self._entity_b,
            "entityBFamily": self._entity_b_family,
            "entityBType": self._entity_b_type,
            "fields": self._fields,
        }
        if self._source_reliability:
            entry["reliability"] = self._source_reliability
        if self._brand:
            entry["brand"] = self._brand
        return entry

    def to_context(self) -> dict[str, Any]:
        if not self._entity_b:
            return {}
        return {
            "Relationship": self._name,
            "EntityA": self._entity_a,
            "EntityAType": self._entity_a_type,
            "EntityB": self._entity_b,
            "EntityBType": self._entity_b_type,
        }


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------


class ScheduledCommand:
    """Polling: run `command` again after `next_run_in_seconds` (minimum 10) instead of holding a worker."""

    VERSION_MISMATCH_ERROR = (
        "This command is not supported by this XSOAR server version. Please update your server "
        "version to 6.2.0 or later."
    )

    def __init__(
        self,
        command: str,
        next_run_in_seconds: int,
        args: dict[str, Any] | None = None,
        timeout_in_seconds: int | None = None,
        items_remaining: int | None = 0,
    ) -> None:
        self.raise_error_if_not_supported()
        self._command = command
        if next_run_in_seconds < 10:
            demisto.info(
                f"ScheduledCommandConfiguration provided value for next_run_in_seconds: {next_run_in_seconds} is "
                "too low - minimum interval is 10 seconds. next_run_in_seconds was set to 10 seconds."
            )
            next_run_in_seconds = 10
        self._next_run = str(next_run_in_seconds)
        self._args = args
        self._timeout = str(timeout_in_seconds) if timeout_in_seconds else None
        self._items_remaining = items_remaining

    @staticmethod
    def raise_error_if_not_supported() -> None:
        if not ScheduledCommand.supports_polling():
            raise DemistoException(ScheduledCommand.VERSION_MISMATCH_ERROR)

    @staticmethod
    def supports_polling() -> bool:
        return is_demisto_version_ge("6.2.0")

    def to_results(self) -> dict[str, Any]:
        """The polling fields merged into the entry."""
        return assign_params(
            PollingCommand=self._command,
            NextRun=self._next_run,
            PollingArgs=self._args,
            Timeout=self._timeout,
            PollingItemsRemaining=self._items_remaining,
        )


class CommandResults:
    """A command's result: war-room text, raw contents and context outputs, in the platform's entry shape.

    outputs_key_field makes the context key `Prefix(val.K && val.K == obj.K)` so repeated runs update the
    object with the same key instead of appending; replace_existing=True makes it `Parent(true)`.
    """

    def __init__(
        self,
        outputs_prefix: str | None = None,
        outputs_key_field: str | list[str] | None = None,
        outputs: Any = None,
        indicators: list[Any] | None = None,
        readable_output: str | None = None,
        raw_response: Any = None,
        indicators_timeline: IndicatorsTimeline | None = None,
        indicator: Any = None,
        ignore_auto_extract: bool = False,
        mark_as_note: bool = False,
        tags: list[str] | None = None,
        scheduled_command: ScheduledCommand | None = None,
        relationships: list[EntityRelationship] | None = None,
        entry_type: int | None = None,
        content_format: str | None = None,
        execution_metrics: list[dict[str, Any]] | None = None,
        replace_existing: bool = False,
    ) -> None:
        if raw_response is None:
            raw_response = outputs
        if outputs is not None:
            if not isinstance(outputs, dict) and not outputs_prefix:
                raise ValueError("outputs_prefix is missing")
            if outputs_prefix == ".":
                raise ValueError("outputs_prefix cannot be a period.")
        if indicators and indicator:
            raise ValueError("indicators is DEPRECATED, use only indicator")
        self.indicators = indicators
        self.indicator = indicator
        self.entry_type = EntryType.NOTE if entry_type is None else entry_type
        self.outputs_prefix = outputs_prefix
        self.outputs_key_field = outputs_key_field
        self._outputs_key_field: list[str] | None
        if not outputs_key_field:
            self._outputs_key_field = None
        elif isinstance(outputs_key_field, STRING_TYPES):
            self._outputs_key_field = [outputs_key_field]  # type: ignore[list-item]
        elif isinstance(outputs_key_field, list):
            self._outputs_key_field = outputs_key_field
        else:
            raise TypeError("outputs_key_field must be of type str or list")
        self.outputs = outputs
        self.raw_response = raw_response
        self.readable_output = readable_output
        self.indicators_timeline = indicators_timeline
        self.ignore_auto_extract = ignore_auto_extract
        self.mark_as_note = mark_as_note
        self.tags = tags
        self.scheduled_command = scheduled_command
        self.relationships = relationships
        self.execution_metrics = execution_metrics
        self.replace_existing = replace_existing
        if content_format is not None and not EntryFormat.is_valid_type(content_format):
            raise TypeError(f"content_format {content_format} is invalid, see CommonServerPython.EntryFormat")
        self.content_format = content_format

    def to_context(self) -> dict[str, Any]:
        """The war-room entry dict the platform receives."""
        outputs: dict[str, Any] = {}
        human_readable = self.readable_output or None
        raw_response = self.raw_response
        indicators = [self.indicator] if self.indicator else self.indicators
        for indicator in indicators or []:
            for key, value in indicator.to_context().items():
                outputs.setdefault(key, []).append(value)
        indicators_timeline = self.indicators_timeline.indicators_timeline if self.indicators_timeline else []
        if self.outputs is not None and self.outputs != []:
            if not self.readable_output:
                human_readable = (
                    tableToMarkdown("Results", self.outputs) if isinstance(self.outputs, dict | list) else self.outputs
                )
            if self.outputs_prefix and self.replace_existing:
                path, _, leaf = self.outputs_prefix.rpartition(".")
                if not path:
                    raise DemistoException("outputs_prefix must be a nested path to replace an existing key.")
                outputs[path + "(true)"] = {leaf: self.outputs}
            elif self.outputs_prefix and self._outputs_key_field:
                dt = " && ".join(f"val.{k} && val.{k} == obj.{k}" for k in self._outputs_key_field)
                outputs[f"{self.outputs_prefix}({dt})"] = self.outputs
            elif self.outputs_prefix:
                outputs[str(self.outputs_prefix)] = self.outputs
            else:
                outputs.update(self.outputs)
        relationships = [r.to_entry() for r in self.relationships or [] if r.to_entry()]
        content_format = self.content_format
        if content_format is None:
            content_format = EntryFormat.TEXT if isinstance(raw_response, STRING_TYPES + (int,)) else EntryFormat.JSON
        if self.execution_metrics:
            self.entry_type = EntryType.EXECUTION_METRICS
            raw_response = "Metrics reported successfully."
            content_format = EntryFormat.TEXT
        entry: dict[str, Any] = {
            "Type": self.entry_type,
            "ContentsFormat": content_format,
            "Contents": raw_response,
            "HumanReadable": human_readable,
            "EntryContext": outputs,
            "IndicatorTimeline": indicators_timeline,
            "IgnoreAutoExtract": bool(self.ignore_auto_extract),
            "Note": bool(self.mark_as_note),
            "Relationships": relationships,
        }
        if self.tags:
            entry["Tags"] = self.tags
        if self.scheduled_command:
            entry.update(self.scheduled_command.to_results())
        if self.execution_metrics:
            entry["APIExecutionMetrics"] = self.execution_metrics
        return entry


EXECUTION_METRICS_SCRIPT_SKIP_MSG = (
    "returning results with Type=EntryType.EXECUTION_METRICS isn't fully supported for scripts. dropping result."
)


def return_results(results: Any) -> None:
    """Send results to the war room: CommandResults, entry dicts, strings, or a list of any of them."""
    is_integration = is_integration_command_execution()
    if results is None:
        demisto.results(None)
        return
    if results and isinstance(results, list):
        plain: list[Any] = []
        for result in results:
            if isinstance(result, dict):
                if is_integration or result.get("Type") != EntryType.EXECUTION_METRICS:
                    plain.append(result)
                else:
                    demisto.debug(EXECUTION_METRICS_SCRIPT_SKIP_MSG)
            elif isinstance(result, str):
                plain.append(result)
            else:
                return_results(result)
        if plain:
            demisto.results(plain)
        return
    if isinstance(results, CommandResults):
        entry = results.to_context()
        if is_integration or entry.get("Type") != EntryType.EXECUTION_METRICS:
            demisto.results(entry)
        else:
            demisto.debug(EXECUTION_METRICS_SCRIPT_SKIP_MSG)
        return
    if hasattr(results, "to_entry"):
        demisto.results(results.to_entry())
        return
    if hasattr(results, "to_display"):
        demisto.results(results.to_display())
        return
    if not is_integration and isinstance(results, dict) and results.get("Type") == EntryType.EXECUTION_METRICS:
        demisto.debug(EXECUTION_METRICS_SCRIPT_SKIP_MSG)
        return
    demisto.results(results)


def return_outputs(
    readable_output: Any,
    outputs: Any = None,
    raw_response: Any = None,
    timeline: Any = None,
    ignore_auto_extract: bool = False,
) -> None:
    """DEPRECATED on the platform (use return_results); kept for older content."""
    timeline_list = [timeline] if isinstance(timeline, dict) else timeline
    for item in timeline_list or []:
        item.setdefault("Category", "Integration Update")
    entry = {
        "Type": entryTypes["note"],
        "HumanReadable": readable_output,
        "ContentsFormat": formats["text"] if isinstance(raw_response, STRING_TYPES) else formats["json"],
        "Contents": raw_response,
        "EntryContext": outputs,
        "IgnoreAutoExtract": ignore_auto_extract,
        "IndicatorTimeline": timeline_list,
    }
    if readable_output and not outputs and not raw_response:
        entry["Contents"] = readable_output
        entry["ContentsFormat"] = formats["text"]
    elif outputs and raw_response is None:
        entry["Contents"] = outputs
    demisto.results(entry)


def return_error(message: Any, error: Any = "", outputs: dict[str, Any] | None = None) -> None:
    """Write an error entry (Type 4) and exit with sys.exit(0), as the platform does.

    For fetch-incidents / fetch-indicators / fetch-credentials / long-running-execution the server handles
    errors itself, so there it raises Exception(message) instead.
    """
    is_command = hasattr(demisto, "command")
    try:
        is_server_handled = is_command and demisto.command() in (
            "fetch-incidents",
            "fetch-credentials",
            "long-running-execution",
            "fetch-indicators",
        )
    except Exception:
        is_server_handled = False
    message = LOG(message)
    if error:
        LOG(str(error))
    if any(sys.exc_info()):
        trace = traceback.format_exc()
        LOG(f"\n{trace}")
        if is_debug_mode():
            message = f"{message}\n\n{trace}"
    LOG.print_log()
    if is_command and demisto.command() == "get-modified-remote-data":
        if (error and not isinstance(error, NotImplementedError)) or sys.exc_info()[0] is not NotImplementedError:
            message = "skip update. error: " + message
    if is_server_handled:
        raise Exception(message)
    if len(message) > MAX_ERROR_MESSAGE_LENGTH:
        half = MAX_ERROR_MESSAGE_LENGTH // 2
        message = message[:half] + "...This error body was truncated..." + message[-half:]
    demisto.results(
        {"Type": entryTypes["error"], "ContentsFormat": formats["text"], "Contents": message, "EntryContext": outputs}
    )
    sys.exit(0)


def return_warning(
    message: Any,
    exit: bool = False,
    warning: str = "",
    outputs: dict[str, Any] | None = None,
    ignore_auto_extract: bool = False,
) -> None:
    """Write a warning entry (Type 11); exits with sys.exit(0) only when exit=True."""
    LOG(message)
    if warning:
        LOG(warning)
    LOG.print_log()
    demisto.results(
        {
            "Type": entryTypes["warning"],
            "ContentsFormat": formats["text"],
            "IgnoreAutoExtract": ignore_auto_extract,
            "Contents": str(message),
            "EntryContext": outputs,
        }
    )
    if exit:
        sys.exit(0)


# --------------------------------------------------------------------------------------------------
# HTTP client
# --------------------------------------------------------------------------------------------------

CIPHERS_STRING = (
    "@SECLEVEL=1:ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:ECDH+AESGCM:DH+AESGCM:"
    "ECDH+AES:DH+AES:RSA+ANESGCM:RSA+AES:!aNULL:!eNULL:!MD5:!DSS"
)


class SSLAdapter(HTTPAdapter):
    """HTTPS adapter with the platform's wider cipher list; with verify=False also no hostname check."""

    def __init__(self, verify: bool = True, **kwargs: Any) -> None:
        # one context per adapter (the platform shares a class-level one; per-instance keeps tests isolated)
        self.context = create_urllib3_context(ciphers=CIPHERS_STRING)
        if not verify:
            self.context.check_hostname = False
            if ssl.OPENSSL_VERSION_INFO >= (3, 0, 0, 0):
                self.context.options |= 0x4  # OP_LEGACY_SERVER_CONNECT
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["ssl_context"] = self.context
        return super().init_poolmanager(*args, **kwargs)

    def proxy_manager_for(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["ssl_context"] = self.context
        return super().proxy_manager_for(*args, **kwargs)


class BaseClient:
    """HTTP client base for integrations: `_http_request` with ok codes, retries and the platform's errors.

    Faithful quirks kept on purpose: retries are mounted for https:// only; proxy=False removes the proxy
    environment variables and verify=False the CA-bundle ones (process-wide); resp_type='xml' only checks
    that the body parses and returns the Response.
    """

    REQUESTS_TIMEOUT = 60

    def __init__(
        self,
        base_url: str,
        verify: bool = True,
        proxy: bool = False,
        ok_codes: tuple[int, ...] = (),
        headers: dict[str, str] | None = None,
        auth: Any = None,
        timeout: float = REQUESTS_TIMEOUT,
    ) -> None:
        self._base_url = base_url
        self._verify = verify
        self._ok_codes = ok_codes
        self._headers = headers
        self._auth = auth
        self._session = requests.Session()
        if not verify:
            self._session.mount("https://", SSLAdapter(verify=verify))
        if proxy:
            ensure_proxy_has_http_prefix()
        else:
            skip_proxy()
        if not verify:
            skip_cert_verification()
        entity_timeout = os.getenv("REQUESTS_TIMEOUT." + (get_integration_name() or get_script_name()), "")
        system_timeout = os.getenv("REQUESTS_TIMEOUT", "")
        self.timeout = float(entity_timeout or system_timeout or timeout)

    def __del__(self) -> None:
        try:
            self._session.close()
        except Exception:  # pragma: no cover - closing at interpreter teardown may fail harmlessly
            pass

    def _implement_retry(
        self,
        retries: int = 0,
        status_list_to_retry: Iterable[int] | None = None,
        backoff_factor: float = 5,
        raise_on_redirect: bool = False,
        raise_on_status: bool = False,
    ) -> None:
        """Mount a urllib3 Retry (GET/POST/PUT/PATCH/DELETE; statuses in status_list_to_retry) on https://."""
        retry = Retry(
            total=retries,
            read=retries,
            connect=retries,
            backoff_factor=backoff_factor,
            status=retries,
            status_forcelist=status_list_to_retry,
            raise_on_status=raise_on_status,
            raise_on_redirect=raise_on_redirect,
            allowed_methods=frozenset(["GET", "POST", "PUT", "PATCH", "DELETE"]),
        )
        adapter: HTTPAdapter = (
            HTTPAdapter(max_retries=retry) if self._verify else SSLAdapter(max_retries=retry, verify=self._verify)
        )
        self._session.mount("https://", adapter)

    def _http_request(
        self,
        method: str,
        url_suffix: str = "",
        full_url: str | None = None,
        headers: dict[str, str] | None = None,
        auth: Any = None,
        json_data: Any = None,
        params: Any = None,
        data: Any = None,
        files: Any = None,
        timeout: Any = None,
        resp_type: str = "json",
        ok_codes: Iterable[int] | None = None,
        return_empty_response: bool = False,
        retries: int = 0,
        status_list_to_retry: Iterable[int] | None = None,
        backoff_factor: float = 5,
        raise_on_redirect: bool = False,
        raise_on_status: bool = False,
        error_handler: Callable[[requests.Response], Any] | None = None,
        empty_valid_codes: Iterable[int] | None = None,
        params_parser: Callable[..., str] | None = None,
        with_metrics: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Send a request; return it as resp_type ('json', 'text', 'content', 'xml', 'response').

        A status outside ok_codes (or not `response.ok` when none are set) raises DemistoException
        "Error in API call [<status>] - <reason>\\n<body>" with `res` set; connection problems raise the
        platform's explanatory DemistoException messages.
        """
        try:
            address = full_url if full_url else urljoin(self._base_url, url_suffix)
            headers = headers if headers else self._headers
            auth = auth if auth else self._auth
            if retries:
                self._implement_retry(retries, status_list_to_retry, backoff_factor, raise_on_redirect, raise_on_status)
            if not timeout:
                timeout = self.timeout
            if params_parser:
                params = urllib.parse.urlencode(params, quote_via=params_parser)
            res = self._session.request(
                method,
                address,
                verify=self._verify,
                params=params,
                data=data,
                json=json_data,
                files=files,
                headers=headers,
                auth=auth,
                timeout=timeout,
                **kwargs,
            )
            if not self._is_status_code_valid(res, ok_codes):
                if error_handler:
                    error_handler(res)
                else:
                    self.client_error_handler(res)
            if not empty_valid_codes:
                empty_valid_codes = [204]
            if res.status_code in empty_valid_codes and return_empty_response:
                return res
            return self.cast_response(res, resp_type)
        except requests.exceptions.ConnectTimeout as exception:
            err_msg = (
                "Connection Timeout Error - potential reasons might be that the Server URL parameter"
                " is incorrect or that the Server is not accessible from your host."
            )
            raise DemistoException(err_msg, exception) from exception
        except requests.exceptions.SSLError as exception:
            if not self._verify:
                raise
            err_msg = (
                "SSL Certificate Verification Failed - try selecting 'Trust any certificate' checkbox in"
                " the integration configuration."
            )
            raise DemistoException(err_msg, exception) from exception
        except requests.exceptions.ProxyError as exception:
            err_msg = (
                "Proxy Error - if the 'Use system proxy' checkbox in the integration configuration is"
                " selected, try clearing the checkbox."
            )
            raise DemistoException(err_msg, exception) from exception
        except requests.exceptions.ConnectionError as exception:
            error_class = str(exception.__class__)
            err_type = "<" + error_class[error_class.find("'") + 1 : error_class.rfind("'")] + ">"
            err_msg = (
                "Verify that the server URL parameter is correct and that you have access to the server from your "
                f"host.\nError Type: {err_type}"
            )
            if exception.errno and exception.strerror:
                err_msg += f"\nError Number: [{exception.errno}]\nMessage: {exception.strerror}\n"
            else:
                err_msg += f"\n{exception}"
            raise DemistoException(err_msg, exception) from exception
        except requests.exceptions.RetryError as exception:
            try:
                reason = f"Reason: {exception.args[0].reason.args[0]}"
            except Exception:
                reason = ""
            err_msg = f"Max Retries Error- Request attempts with {retries} retries failed. \n{reason}"
            raise DemistoException(err_msg, exception) from exception

    def cast_response(self, res: requests.Response, resp_type: str, raise_on_error: bool = True) -> Any:
        resp_type = resp_type.lower()
        try:
            if resp_type == "json":
                return res.json()
            if resp_type == "text":
                return res.text
            if resp_type == "content":
                return res.content
            if resp_type == "xml":
                ET.fromstring(res.text)  # the platform validates the XML but returns the response itself
            return res
        except ValueError as exception:
            if raise_on_error:
                raise DemistoException(
                    f"Failed to parse {resp_type} object from response: {res.content!r}", exception, res
                ) from exception
            return None

    def _is_status_code_valid(self, response: requests.Response, ok_codes: Iterable[int] | None = None) -> bool:
        status_codes = ok_codes if ok_codes else self._ok_codes
        if status_codes:
            return response.status_code in status_codes
        return response.ok

    def client_error_handler(self, res: requests.Response) -> None:
        """Raise the platform's generic API error (JSON bodies re-dumped, others as text)."""
        err_msg = f"Error in API call [{res.status_code}] - {res.reason}"
        try:
            error_entry = res.json()
        except ValueError:
            raise DemistoException(err_msg + f"\n{res.text}", res=res) from None
        raise DemistoException(err_msg + f"\n{json.dumps(error_entry)}", res=res)


logging.raiseExceptions = False  # as on the platform: logging without handlers must not print tracebacks
