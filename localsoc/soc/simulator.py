"""SimulatedSOC: the real XSOAR commands our playbooks call, answered from a scenario.

Every command keeps the real integration's name, argument names and context paths (docs/real-commands.md
lists the source yml for each) so a playbook that works here calls the same things on a tenant. Response
actions change the simulated state and are recorded with before/after values so each can be undone, and
``snapshot()`` lets a test prove a rollback restores the state exactly.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from localsoc.soc.entries import context_key, error_entry, note_entry, table_to_markdown, text_entry
from localsoc.soc.records import api_access_view, is_anonymous, is_user_action
from localsoc.soc.reputation import ReputationService, abuse_confidence
from localsoc.soc.scenario import Scenario
from localsoc.soc.splunk import SplunkQueryError, run_search
from localsoc.soc.state import build_state, is_ip, policy_name
from localsoc.soc.timeutil import Clock, FixedClock, aws_time, parse_relative_or_absolute, parse_time
from localsoc.soc.ueba import NOTABLE_THRESHOLD, aliases_for, compute_risk

__all__ = ["BRANDS", "COMMANDS", "CommandSpec", "SimulatedSOC", "UndoConflict"]

ABUSEIPDB = "AbuseIPDB"
AWS_IAM = "AWS - IAM"
AWS_CLOUDTRAIL = "AWS - CloudTrail"
OKTA = "Okta v2"
SPLUNK = "SplunkPy"
AWS_WAF = "AWS-WAF"
EXABEAM = "Exabeam"
ZSCALER = "Zscaler"
BRANDS = (ABUSEIPDB, AWS_IAM, AWS_CLOUDTRAIL, OKTA, SPLUNK, AWS_WAF, EXABEAM, ZSCALER)

# Arguments the XSOAR server itself understands on any command; never an integration argument.
SERVER_ARGS = {"using", "using-brand", "using-category", "execution-timeout", "extend-context", "ignore-outputs",
               "raw-response", "retry-count", "retry-interval"}
AWS_ROLE_ARGS = ("roleArn", "roleSessionName", "roleSessionDuration")


@dataclass(frozen=True)
class CommandSpec:
    """One simulated command: its brand, argument names (as in the real yml) and whether it mutates state."""

    name: str
    brand: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    handler: str
    action: bool = False
    one_of: tuple[str, ...] = ()


def _spec(name: str, brand: str, required: tuple[str, ...] = (), optional: tuple[str, ...] = (),
          action: bool = False, one_of: tuple[str, ...] = ()) -> CommandSpec:
    handler = "_cmd_" + re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    return CommandSpec(name, brand, required, optional, handler, action, one_of)


_IAM_OPT = AWS_ROLE_ARGS
_PAGE = ("limit", "page", "page_size", "marker") + AWS_ROLE_ARGS
_WAF_OPT = ("scope", "region")
COMMANDS: dict[str, CommandSpec] = {s.name: s for s in [
    _spec("ip", ABUSEIPDB, ("ip",), ("days", "verbose", "threshold")),
    _spec("aws-iam-get-user", AWS_IAM, ("userName",), _IAM_OPT),
    _spec("aws-iam-list-users", AWS_IAM, (), _IAM_OPT),
    _spec("aws-iam-list-access-keys-for-user", AWS_IAM, ("userName",), _IAM_OPT),
    _spec("aws-iam-list-attached-user-policies", AWS_IAM, ("userName",), _PAGE),
    _spec("aws-iam-list-user-policies", AWS_IAM, ("userName",), _PAGE),
    _spec("aws-iam-list-groups-for-user", AWS_IAM, ("userName",), _IAM_OPT),
    _spec("aws-iam-get-access-key-last-used", AWS_IAM, ("accessKeyId",), ()),
    _spec("aws-iam-update-access-key", AWS_IAM, ("userName", "accessKeyId", "status"), _IAM_OPT, action=True),
    _spec("aws-iam-detach-policy", AWS_IAM, ("type",), ("entityName", "policyArn") + _IAM_OPT, action=True),
    _spec("aws-iam-attach-policy", AWS_IAM, ("type",), ("entityName", "policyArn"), action=True),
    _spec("aws-iam-delete-login-profile", AWS_IAM, ("userName",), _IAM_OPT, action=True),
    _spec("aws-iam-remove-user-from-group", AWS_IAM, ("userName", "groupName"), _IAM_OPT, action=True),
    _spec("aws-iam-add-user-to-group", AWS_IAM, ("userName", "groupName"), _IAM_OPT, action=True),
    _spec("aws-cloudtrail-lookup-events", AWS_CLOUDTRAIL, ("attributeKey", "attributeValue"),
          ("startTime", "endTime", "region", "maxResults") + AWS_ROLE_ARGS),
    _spec("okta-get-user", OKTA, (), ("username", "userId", "userEmail", "verbose"),
          one_of=("username", "userId", "userEmail")),
    _spec("okta-get-logs", OKTA, (), ("filter", "query", "since", "until", "sortOrder", "limit")),
    _spec("okta-get-failed-logins", OKTA, (), ("since", "until", "sortOrder", "limit")),
    _spec("okta-get-groups", OKTA, ("username",), ()),
    _spec("okta-suspend-user", OKTA, ("username",), (), action=True),
    _spec("okta-unsuspend-user", OKTA, ("username",), (), action=True),
    _spec("okta-deactivate-user", OKTA, ("username",), (), action=True),
    _spec("okta-activate-user", OKTA, ("username",), (), action=True),
    _spec("okta-clear-user-sessions", OKTA, ("userId",), (), action=True),
    _spec("splunk-search", SPLUNK, ("query",),
          ("earliest_time", "latest_time", "event_limit", "app", "batch_limit", "update_context", "polling",
           "interval_in_seconds", "sid", "fast_mode")),
    _spec("aws-waf-ip-set-get", AWS_WAF, ("name", "id"), _WAF_OPT),
    _spec("aws-waf-ip-set-list", AWS_WAF, (), _WAF_OPT + ("next_token", "limit")),
    _spec("aws-waf-ip-set-update", AWS_WAF, ("name", "id", "addresses"),
          _WAF_OPT + ("description", "is_overwrite"), action=True),
    _spec("exabeam-get-user-info", EXABEAM, ("username",), ()),
    _spec("zscaler-blacklist-ip", ZSCALER, ("ip",), (), action=True),
    _spec("zscaler-undo-blacklist-ip", ZSCALER, ("ip",), (), action=True),
]}

_AWS_ERR = "Error has occurred in the AWS IAM Integration: <class 'botocore.errorfactory.{exc}Exception'>\n {msg}"
# An unexpected exception in a simulated integration: XSOAR turns a crashing integration into an error entry
# (the playbook sees a failed task, not a dead script); tests grep for this text to catch simulator bugs.
INTEGRATION_CRASH = "Simulated integration error"
_LOOKUP_KEYS = ("AccessKeyId", "EventId", "EventName", "Username", "ResourceType", "ResourceName", "EventSource",
                "ReadOnly")
_OKTA_RATE = {"x-rate-limit-limit": "600", "x-rate-limit-remaining": "599"}


class UndoConflict(RuntimeError):
    """Undoing an action would overwrite a later change to the same state; undo the later action first."""


class _CommandError(Exception):
    """Raised inside a handler; becomes an error entry of the handler's brand."""


def _as_list(value: Any) -> list[str]:
    """argToList: a list stays a list, a CSV string is split, JSON arrays are accepted."""
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    text = str(value).strip()
    if text.startswith("["):
        try:
            return [str(v).strip() for v in json.loads(text)]
        except json.JSONDecodeError:
            pass
    return [v.strip() for v in text.split(",") if v.strip()]


def _to_int(value: Any, name: str, default: int | None) -> int | None:
    if value in (None, ""):
        return default
    try:
        return int(str(value).strip())
    except ValueError as exc:
        raise _CommandError(f'"{value}" is not a valid number for argument {name}') from exc


_ABSENT = object()


def _overlaps(a: list[Any], b: list[Any]) -> bool:
    """Two state paths touch the same value when one is a prefix of the other."""
    n = min(len(a), len(b))
    return a[:n] == b[:n]


class SimulatedSOC:
    """A tenant in a box: enabled integrations, identities, logs and a blocklist, all from one scenario."""

    def __init__(self, scenario: Scenario, reputation_feed: Path | None | bool = None,
                 clock: Clock | None = None) -> None:
        """``reputation_feed``: None = default resolution (env LOCALSOC_REPUTATION_FEED, else
        ../shared/data/ipsum/ipsum.txt if present); a Path = that file; False = no feed at all."""
        self.scenario = scenario
        self.clock: Clock = clock or FixedClock(scenario.now)
        self.reputation = ReputationService(scenario.reputation, reputation_feed)
        self.state: dict[str, Any] = build_state(scenario)
        self.actions: list[dict[str, Any]] = []
        self.last_action_id: str | None = None

    # ---- availability ------------------------------------------------------------------------------
    @property
    def enabled_brands(self) -> list[str]:
        disabled = set(self.scenario.disabled_integrations)
        return [b for b in BRANDS if b not in disabled]

    def is_available(self, command: str) -> bool:
        """True when a simulated integration that answers ``command`` is enabled (what skipunavailable checks)."""
        spec = COMMANDS.get(command)
        return spec is not None and spec.brand in self.enabled_brands

    def available_commands(self) -> dict[str, str]:
        """command -> brand for every command an enabled integration answers."""
        return {name: spec.brand for name, spec in COMMANDS.items() if spec.brand in self.enabled_brands}

    # ---- dispatch ----------------------------------------------------------------------------------
    def dispatch(self, command: str, args: dict[str, Any] | None = None) -> list[dict[str, Any]] | None:
        """Run a command like ``demisto.executeCommand``: a list of entries, or None when no enabled
        integration answers it (the runtime then reports 'Unsupported Command' / honours skipunavailable)."""
        args = {k: v for k, v in (args or {}).items()}
        spec = COMMANDS.get(command)
        if spec is None or not self.is_available(command):
            return None
        using_brand = args.get("using-brand")
        if using_brand and using_brand != spec.brand:
            return None
        using = args.get("using")
        if using and using not in (spec.brand, f"{spec.brand}_instance_1"):
            return None
        call = {k: v for k, v in args.items() if k not in SERVER_ARGS and v is not None}
        missing = [r for r in spec.required if call.get(r) in (None, "", [])]
        if missing:
            return [error_entry(spec.brand, f"Missing required argument(s) for command {command}: "
                                            f"{', '.join(missing)}")]
        if spec.one_of and not any(call.get(a) for a in spec.one_of):
            return [error_entry(spec.brand, f"You must supply either {' or '.join(repr(a) for a in spec.one_of)}")]
        handler: Callable[[dict[str, Any]], list[dict[str, Any]]] = getattr(self, spec.handler)
        try:
            return handler(call)
        except _CommandError as exc:
            return [error_entry(spec.brand, str(exc))]
        except Exception as exc:  # noqa: BLE001 - a real integration that raises gives the caller an error entry
            return [error_entry(spec.brand, f"{INTEGRATION_CRASH} in {command}: {type(exc).__name__}: {exc}")]

    # ---- state, actions, undo ----------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """A deep copy of the whole simulated tenant state (equality proves a rollback)."""
        return copy.deepcopy(self.state)

    def _get(self, path: list[Any]) -> Any:
        node: Any = self.state
        for key in path:
            if isinstance(node, dict):
                if key not in node:
                    return _ABSENT
                node = node[key]
            else:
                node = node[key]
        return node

    def _put(self, path: list[Any], value: Any) -> None:
        node: Any = self.state
        for key in path[:-1]:
            node = node[key]
        if value is _ABSENT:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = copy.deepcopy(value)

    def _begin(self, command: str, args: dict[str, Any], brand: str, target: str) -> dict[str, Any]:
        action = {
            "action_id": f"act-{len(self.actions) + 1:04d}",
            "command": command,
            "brand": brand,
            "args": copy.deepcopy(args),
            "target": target,
            "time": aws_time(self.clock.now()) + "Z",
            "changes": [],
            "rollback": None,
            "reversible_on_tenant": True,
            "undone": False,
            "undone_at": None,
        }
        self.actions.append(action)
        self.last_action_id = action["action_id"]
        return action

    def _change(self, action: dict[str, Any], path: list[Any], value: Any) -> None:
        before = self._get(path)
        if before is not _ABSENT and before == value:
            return
        self._put(path, value)
        action["changes"].append({
            "path": list(path),
            "before": None if before is _ABSENT else copy.deepcopy(before),
            "before_exists": before is not _ABSENT,
            "after": None if value is _ABSENT else copy.deepcopy(value),
            "after_exists": value is not _ABSENT,
        })

    def action(self, action_id: str) -> dict[str, Any]:
        for act in self.actions:
            if act["action_id"] == action_id:
                return act
        raise KeyError(f"no action {action_id!r} (recorded: {', '.join(a['action_id'] for a in self.actions)})")

    def undo(self, action_id: str) -> dict[str, Any]:
        """Revert one action's changes; raises UndoConflict if a later action changed the same values."""
        act = self.action(action_id)
        if act["undone"]:
            raise ValueError(f"action {action_id} was already undone at {act['undone_at']}")
        index = self.actions.index(act)
        for change in reversed(act["changes"]):
            current = self._get(change["path"])
            expected = change["after"] if change["after_exists"] else _ABSENT
            later = [a["action_id"] for a in self.actions[index + 1:] if not a["undone"]
                     and any(_overlaps(c["path"], change["path"]) for c in a["changes"])]
            drifted = (current is _ABSENT) != (expected is _ABSENT) or (current is not _ABSENT and current != expected)
            if later or drifted:
                raise UndoConflict(f"cannot undo {action_id}: {'.'.join(map(str, change['path']))} was changed "
                                   f"since (by {', '.join(later) or 'a change outside the action log'}); "
                                   "undo those first")
        for change in reversed(act["changes"]):
            self._put(change["path"], change["before"] if change["before_exists"] else _ABSENT)
        act["undone"] = True
        act["undone_at"] = aws_time(self.clock.now()) + "Z"
        return act

    def rollback_all(self) -> list[dict[str, Any]]:
        """Undo every action still in effect, newest first; returns the undone actions."""
        done = []
        for act in reversed(self.actions):
            if not act["undone"]:
                done.append(self.undo(act["action_id"]))
        return done

    @property
    def undo_log(self) -> list[dict[str, Any]]:
        """Every recorded action with its before/after changes and the tenant command that would undo it."""
        return copy.deepcopy(self.actions)

    # ---- helpers -----------------------------------------------------------------------------------
    def _iam_user(self, name: str, operation: str) -> dict[str, Any]:
        user = self.state["iam"]["users"].get(name)
        if user is None:
            raise _CommandError(_AWS_ERR.format(exc="NoSuchEntity", msg=(
                f"An error occurred (NoSuchEntity) when calling the {operation} operation: "
                f"The user with name {name} cannot be found.")))
        return user

    def _okta_by_login(self, username: str, command: str) -> dict[str, Any]:
        for user in self.state["okta"]["users"].values():
            if (user["profile"].get("login") or "").lower() == username.lower():
                return user
        raise _CommandError(f"Failed to execute {command} command.\nError:\n"
                            f"Failed to find userID for: {username} username.")

    def _okta_metadata(self) -> dict[str, Any]:
        reset = str(int(self.clock.now().timestamp()) + 60)
        return {"Okta.Metadata(true)": {**_OKTA_RATE, "x-rate-limit-reset": reset}}

    # ---- AbuseIPDB: generic ip ---------------------------------------------------------------------
    def _cmd_ip(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        entries = []
        for ip in _as_list(args.get("ip")):
            if not is_ip(ip) and ":" not in ip:
                entries.append(error_entry(ABUSEIPDB, f"Bad connection attempt. Status code: 422 ({ip!r} is not a "
                                                      "valid IP address)"))
                continue
            entries.append(self._abuseipdb_entry(ip))
        return entries

    def _geo_country(self, ip: str) -> str | None:
        for ev in self.scenario.records("okta"):
            client = ev.get("client") or {}
            if client.get("ipAddress") == ip:
                return (client.get("geographicalContext") or {}).get("country")
        return None

    def _abuseipdb_entry(self, ip: str) -> dict[str, Any]:
        rep = self.reputation.lookup(ip)
        country = rep.country or self._geo_country(ip)
        confidence = abuse_confidence(rep.count)
        abuse_ip: dict[str, Any] = {
            "Address": ip,
            "AbuseConfidenceScore": confidence,
            "TotalReports": rep.count * 7,
        }
        ip_ec: dict[str, Any] = {"Address": ip}
        if country:
            abuse_ip["Geo"] = {"Country": country}
            ip_ec["Geo"] = {"Country": country}
        for key, value in (("ISP", rep.isp), ("UsageType", rep.usage_type), ("Domain", rep.domain)):
            if value:
                abuse_ip[key] = value
        if rep.dbot_score == 3:
            malicious = {"Vendor": ABUSEIPDB, "Detections": "The address was reported as Malicious by AbuseIPDB.",
                         "Description": "The address was reported as Malicious by AbuseIPDB."}
            abuse_ip["Malicious"] = malicious
            ip_ec["Malicious"] = malicious
        dbot = {"Indicator": ip, "Type": "ip", "Vendor": ABUSEIPDB, "Score": rep.dbot_score,
                "Reliability": "C - Fairly reliable"}
        context = {
            "IP(val.Address && val.Address == obj.Address)": [ip_ec],
            "AbuseIPDB(val.IP.Address && val.IP.Address == obj.IP.Address)": [{"IP": abuse_ip}],
            "DBotScore": [dbot],
        }
        readable = table_to_markdown("AbuseIPDB IP Analysis", abuse_ip,
                                     ["Address", "AbuseConfidenceScore", "TotalReports", "Geo", "ISP"])
        entry = note_entry(ABUSEIPDB, [{"IP": abuse_ip}], readable, context)
        entry["IndicatorTimeline"] = [{"Value": ip, "Message": f'AbuseIPDB marked the indicator "{ip}" as '
                                       f'*{["Unknown", "Good", "Suspicious", "Bad"][rep.dbot_score]}*',
                                       "Category": "Integration Update"}]
        return entry

    # ---- AWS - IAM ---------------------------------------------------------------------------------
    def _user_row(self, user: dict[str, Any]) -> dict[str, Any]:
        return {"UserName": user["UserName"], "UserId": user["UserId"], "Arn": user["Arn"],
                "CreateDate": user["CreateDate"], "Path": user["Path"]}

    def _cmd_aws_iam_get_user(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        user = self.state["iam"]["users"].get(args["userName"])
        if user is None:
            return [note_entry(AWS_IAM, f"User {args['userName']} was not found.",
                               f"User {args['userName']} was not found.", {}, "text")]
        data = self._user_row(user)
        ec = {"AWS.IAM.Users": data}
        return [note_entry(AWS_IAM, ec, table_to_markdown("AWS IAM Users", data), ec)]

    def _cmd_aws_iam_list_users(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        data = []
        for user in self.state["iam"]["users"].values():
            row = self._user_row(user)
            row["CreateDate"] = row["CreateDate"].replace("T", " ")
            if user.get("PasswordLastUsed"):
                row["PasswordLastUsed"] = user["PasswordLastUsed"].replace("T", " ")
            data.append(row)
        ec = {"AWS.IAM.Users": data}
        return [note_entry(AWS_IAM, ec, table_to_markdown("AWS IAM Users", data), ec)]

    def _cmd_aws_iam_list_access_keys_for_user(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        user = self._iam_user(args["userName"], "ListAccessKeys")
        data = [{"UserName": user["UserName"], **key} for key in user["AccessKeys"].values()]
        ec = {"AWS.IAM.Users(val.UserName === obj.UserName).AccessKeys": data}
        return [note_entry(AWS_IAM, ec, table_to_markdown("AWS IAM Users Access Keys", data), ec)]

    def _page(self, items: list[Any], args: dict[str, Any]) -> list[Any]:
        limit = _to_int(args.get("limit"), "limit", None)
        page = _to_int(args.get("page"), "page", None)
        size = _to_int(args.get("page_size"), "page_size", None)
        if limit is None and page is not None and size is not None:
            if page <= 0:
                raise _CommandError("Chosen page number must be greater than 0")
            return items[(page - 1) * size: page * size]
        return items[: limit if limit is not None else 50]

    def _cmd_aws_iam_list_attached_user_policies(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        user = self._iam_user(args["userName"], "ListAttachedUserPolicies")
        attached = [{"PolicyName": name, "PolicyArn": arn} for arn, name in user["AttachedPolicies"].items()]
        attached = self._page(attached, args)
        rows = [{"UserName": user["UserName"], **p} for p in attached]
        ec: dict[str, Any] = {}
        if rows:
            ec = {"AWS.IAM.AttachedUserPolicies(val.PolicyArn && val.UserName && val.PolicyArn === obj.PolicyArn "
                  "&& val.UserName === obj.UserName)": rows,
                  f"AWS.IAM.Users(val.UserName === '{user['UserName']}').AttachedPoliciesMarker": None}
        readable = table_to_markdown(f"AWS IAM Attached Policies for user {user['UserName']}", attached,
                                     ["PolicyName", "PolicyArn"])
        return [note_entry(AWS_IAM, {"AttachedPolicies": attached, "IsTruncated": False}, readable, ec)]

    def _cmd_aws_iam_list_user_policies(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        user = self._iam_user(args["userName"], "ListUserPolicies")
        names = self._page(list(user["InlinePolicies"]), args)
        rows = [{"UserName": user["UserName"], "PolicyName": n} for n in names]
        ec: dict[str, Any] = {}
        if rows:
            ec = {"AWS.IAM.UserPolicies(val.PolicyName && val.UserName && val.PolicyName === obj.PolicyName && "
                  "val.UserName === obj.UserName)": rows,
                  f"AWS.IAM.Users(val.UserName === '{user['UserName']}').InlinePoliciesMarker": None}
        readable = table_to_markdown(f"AWS IAM Policies for user {user['UserName']}",
                                     [{"PolicyNames": n} for n in names], ["PolicyNames"])
        return [note_entry(AWS_IAM, {"PolicyNames": names, "IsTruncated": False}, readable, ec)]

    def _cmd_aws_iam_list_groups_for_user(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        user = self._iam_user(args["userName"], "ListGroupsForUser")
        groups = self.state["iam"]["groups"]
        data = [{"UserName": user["UserName"], "GroupName": g, "GroupId": groups[g]["GroupId"],
                 "Arn": groups[g]["Arn"], "CreateDate": groups[g]["CreateDate"], "Path": groups[g]["Path"]}
                for g in user["Groups"] if g in groups]
        ec = {"AWS.IAM.Users(val.UserName === obj.UserName).Groups": data}
        return [note_entry(AWS_IAM, ec, table_to_markdown("AWS IAM User Groups", data), ec)]

    def _key_owner(self, key_id: str) -> dict[str, Any] | None:
        for user in self.state["iam"]["users"].values():
            if key_id in user["AccessKeys"]:
                return user
        return None

    def _cmd_aws_iam_get_access_key_last_used(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        key_id = args["accessKeyId"]
        owner = self._key_owner(key_id)
        if owner is None:
            raise _CommandError(f"Couldn't get information about access key {key_id}\nencountered the following "
                                f"exception: An error occurred (NoSuchEntity) when calling the GetAccessKeyLastUsed "
                                f"operation: The Access Key with id {key_id} cannot be found")
        now = self.clock.now()
        uses: list[tuple[datetime, str, str]] = []
        for rec in self.scenario.records("cloudtrail"):
            if is_user_action(rec) and (rec.get("userIdentity") or {}).get("accessKeyId") == key_id:
                uses.append((parse_time(rec["eventTime"]), rec["eventSource"].split(".")[0], rec["awsRegion"]))
        for rec in self.scenario.records("api_access"):
            line = api_access_view(rec)
            if line.key_id == key_id and line.when is not None:
                uses.append((line.when, "execute-api", "us-east-1"))
        uses = [u for u in uses if u[0] <= now]
        last = max(uses, default=None, key=lambda u: u[0])
        data = {"ID": key_id, "UserName": owner["UserName"],
                "LastUsedServiceName": last[1] if last else "N/A", "LastUsedRegion": last[2] if last else "N/A",
                "LastUsedDate": aws_time(last[0]) if last else ""}
        data = {k: v for k, v in data.items() if v != ""}
        raw = {"UserName": owner["UserName"], "AccessKeyLastUsed": {
            "LastUsedDate": data.get("LastUsedDate"), "ServiceName": data["LastUsedServiceName"],
            "Region": data["LastUsedRegion"]}}
        readable = table_to_markdown(f"Found the following information about access key {key_id}", data,
                                     [h for h in ("ID", "UserName", "LastUsedDate", "LastUsedServiceName",
                                                  "LastUsedRegion") if h in data])
        return [note_entry(AWS_IAM, raw, readable, {context_key("AWS.IAM.AccessKey", "ID"): data})]

    def _cmd_aws_iam_update_access_key(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        status = args["status"]
        if status not in ("Active", "Inactive"):
            raise _CommandError(_AWS_ERR.format(exc="ValidationError", msg=(
                "An error occurred (ValidationError) when calling the UpdateAccessKey operation: 1 validation error "
                f"detected: Value '{status}' at 'status' failed to satisfy constraint: Member must satisfy enum "
                "value set: [Active, Inactive]")))
        user = self._iam_user(args["userName"], "UpdateAccessKey")
        key_id = args["accessKeyId"]
        if key_id not in user["AccessKeys"]:
            raise _CommandError(_AWS_ERR.format(exc="NoSuchEntity", msg=(
                "An error occurred (NoSuchEntity) when calling the UpdateAccessKey operation: "
                f"The Access Key with id {key_id} cannot be found.")))
        act = self._begin("aws-iam-update-access-key", args, AWS_IAM, f"access key {key_id} of {user['UserName']}")
        previous = user["AccessKeys"][key_id]["Status"]
        self._change(act, ["iam", "users", user["UserName"], "AccessKeys", key_id, "Status"], status)
        act["rollback"] = {"command": "aws-iam-update-access-key",
                           "args": {"userName": user["UserName"], "accessKeyId": key_id, "status": previous}}
        return [text_entry(AWS_IAM, f"Access Key with ID {key_id} was set to status: {status}")]

    def _policy_entity(self, args: dict[str, Any], operation: str) -> tuple[list[str], dict[str, Any], str]:
        kind = args["type"]
        name = args.get("entityName") or ""
        arn = args.get("policyArn") or ""
        if kind not in ("User", "Group", "Role"):
            raise _CommandError(f"type must be one of User, Group, Role (got {kind!r})")
        if not name or not arn:
            raise _CommandError(_AWS_ERR.format(exc="ParamValidation", msg=(
                "Parameter validation failed: entityName and policyArn are required")))
        table = {"User": "users", "Group": "groups", "Role": "roles"}[kind]
        entity = self.state["iam"][table].get(name)
        if entity is None:
            raise _CommandError(_AWS_ERR.format(exc="NoSuchEntity", msg=(
                f"An error occurred (NoSuchEntity) when calling the {operation} operation: "
                f"The {kind.lower()} with name {name} cannot be found.")))
        return ["iam", table, name, "AttachedPolicies", arn], entity, arn

    def _cmd_aws_iam_detach_policy(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        kind = args.get("type", "")
        path, entity, arn = self._policy_entity(args, f"Detach{kind}Policy")
        if arn not in entity["AttachedPolicies"]:
            raise _CommandError(_AWS_ERR.format(exc="NoSuchEntity", msg=(
                f"An error occurred (NoSuchEntity) when calling the Detach{kind}Policy operation: "
                f"Policy {arn} was not found.")))
        act = self._begin("aws-iam-detach-policy", args, AWS_IAM, f"{arn} from {kind} {args['entityName']}")
        self._change(act, path, _ABSENT)
        act["rollback"] = {"command": "aws-iam-attach-policy",
                           "args": {"type": kind, "entityName": args["entityName"], "policyArn": arn}}
        return [text_entry(AWS_IAM, f"Policy was detached from {kind}: {args['entityName']} ")]

    def _cmd_aws_iam_attach_policy(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        kind = args.get("type", "")
        path, _entity, arn = self._policy_entity(args, f"Attach{kind}Policy")
        act = self._begin("aws-iam-attach-policy", args, AWS_IAM, f"{arn} to {kind} {args['entityName']}")
        self._change(act, path, policy_name(arn))
        act["rollback"] = {"command": "aws-iam-detach-policy",
                           "args": {"type": kind, "entityName": args["entityName"], "policyArn": arn}}
        return [text_entry(AWS_IAM, f"Policy was attached to {kind}: {args['entityName']} ")]

    def _cmd_aws_iam_delete_login_profile(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        user = self._iam_user(args["userName"], "DeleteLoginProfile")
        if not user["LoginProfile"]:
            raise _CommandError(_AWS_ERR.format(exc="NoSuchEntity", msg=(
                "An error occurred (NoSuchEntity) when calling the DeleteLoginProfile operation: "
                f"Login Profile for User {user['UserName']} cannot be found.")))
        act = self._begin("aws-iam-delete-login-profile", args, AWS_IAM, f"console password of {user['UserName']}")
        self._change(act, ["iam", "users", user["UserName"], "LoginProfile"], False)
        act["rollback"] = {"command": "aws-iam-create-login-profile",
                           "args": {"userName": user["UserName"], "password": "<new password required>",
                                    "passwordResetRequired": "True"}}
        act["reversible_on_tenant"] = False  # the old password cannot be restored, only a new one set
        return [text_entry(AWS_IAM, f"The user {user['UserName']} login profile has been deleted")]

    def _group_membership(self, args: dict[str, Any], add: bool) -> list[dict[str, Any]]:
        operation = "AddUserToGroup" if add else "RemoveUserFromGroup"
        user = self._iam_user(args["userName"], operation)
        group = args["groupName"]
        if group not in self.state["iam"]["groups"]:
            raise _CommandError(_AWS_ERR.format(exc="NoSuchEntity", msg=(
                f"An error occurred (NoSuchEntity) when calling the {operation} operation: "
                f"The group with name {group} cannot be found.")))
        command = "aws-iam-add-user-to-group" if add else "aws-iam-remove-user-from-group"
        act = self._begin(command, args, AWS_IAM, f"{user['UserName']} {'to' if add else 'from'} group {group}")
        groups = [g for g in user["Groups"] if g != group] + ([group] if add else [])
        self._change(act, ["iam", "users", user["UserName"], "Groups"], groups)
        act["rollback"] = {"command": "aws-iam-remove-user-from-group" if add else "aws-iam-add-user-to-group",
                           "args": {"userName": user["UserName"], "groupName": group}}
        if add:
            return [text_entry(AWS_IAM, f"The user {user['UserName']} was added to the IAM group: {group}")]
        return [text_entry(AWS_IAM, f"The User {user['UserName']} has been removed from the group {group}")]

    def _cmd_aws_iam_remove_user_from_group(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        return self._group_membership(args, add=False)

    def _cmd_aws_iam_add_user_to_group(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        return self._group_membership(args, add=True)

    # ---- AWS - CloudTrail --------------------------------------------------------------------------
    @staticmethod
    def _lookup_username(rec: dict[str, Any]) -> str | None:
        """LookupEvents' Username: the IAM user, the role session, 'root'; None for an anonymous principal or an
        identity that names nobody (AWS Internal). CloudTrail's HIDDEN_DUE_TO_SECURITY_REASONS stays: AWS
        returns it as the Username of failed console sign-ins, and that is what a playbook sees."""
        ident = rec.get("userIdentity") or {}
        if not isinstance(ident, dict) or is_anonymous(ident):
            return None
        kind = ident.get("type")
        if kind == "IAMUser":
            return ident.get("userName")
        if kind == "AssumedRole" and isinstance(ident.get("arn"), str) and ident["arn"]:
            return ident["arn"].rsplit("/", 1)[-1]
        if kind == "Root":
            return "root"
        name = ident.get("userName")
        return name if isinstance(name, str) and name else None

    @staticmethod
    def _resources(rec: dict[str, Any]) -> list[dict[str, str]]:
        if rec.get("resources"):
            return [{"ResourceType": r.get("type"), "ResourceName": r.get("ARN") or r.get("arn")}
                    for r in rec["resources"] if isinstance(r, dict)]
        # request parameters and response elements are free-form: only string values name a resource
        rp = {k: v for k, v in (rec.get("requestParameters") or {}).items() if isinstance(v, str) and v}
        re_ = rec.get("responseElements") or {}
        new_key = re_.get("accessKey") if isinstance(re_.get("accessKey"), dict) else {}
        out = []
        if rp.get("userName"):
            out.append({"ResourceType": "AWS::IAM::User", "ResourceName": rp["userName"]})
        if rp.get("policyArn"):
            out.append({"ResourceType": "AWS::IAM::Policy", "ResourceName": rp["policyArn"]})
        key = rp.get("accessKeyId") or new_key.get("accessKeyId")
        if isinstance(key, str) and key:
            out.append({"ResourceType": "AWS::IAM::AccessKey", "ResourceName": key})
        for field, kind in (("groupName", "AWS::IAM::Group"), ("roleName", "AWS::IAM::Role"),
                            ("bucketName", "AWS::S3::Bucket"), ("name", "AWS::CloudTrail::Trail")):
            if rp.get(field):
                out.append({"ResourceType": kind, "ResourceName": rp[field]})
        return out

    def _lookup_match(self, key: str, value: str, rec: dict[str, Any], resources: list[dict[str, str]]) -> bool:
        """LookupEvents attribute semantics: exact, case-sensitive match (ReadOnly compares true/false)."""
        if key == "AccessKeyId":
            return (rec.get("userIdentity") or {}).get("accessKeyId") == value
        if key == "EventId":
            return rec["eventID"] == value
        if key == "EventName":
            return rec["eventName"] == value
        if key == "Username":
            return self._lookup_username(rec) == value
        if key == "ResourceType":
            return any(x["ResourceType"] == value for x in resources)
        if key == "ResourceName":
            return any(x["ResourceName"] == value for x in resources)
        if key == "EventSource":
            return rec["eventSource"] == value
        return str(rec.get("readOnly", False)).lower() == value.lower()

    def _cmd_aws_cloudtrail_lookup_events(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        key, value = args["attributeKey"], str(args["attributeValue"])
        if key not in _LOOKUP_KEYS:
            raise _CommandError("An error occurred (InvalidLookupAttributesException) when calling the LookupEvents "
                                f"operation: Lookup attribute key {key!r} is not valid; valid keys: "
                                f"{', '.join(_LOOKUP_KEYS)}")
        try:
            start = parse_time(args["startTime"]) if args.get("startTime") else None
            end = parse_time(args["endTime"]) if args.get("endTime") else None
        except ValueError as exc:
            raise _CommandError(f"time data does not match format '%Y-%m-%dT%H:%M:%S': {exc}") from exc
        max_results = _to_int(args.get("maxResults"), "maxResults", None)
        region = args.get("region")
        hits = []
        for rec in self.scenario.records("cloudtrail"):
            if not is_user_action(rec):
                continue  # LookupEvents returns Insights events only when asked for EventCategory=insight
            when = parse_time(rec["eventTime"])
            if (start and when < start) or (end and when > end) or when > self.clock.now():
                continue
            if region and rec["awsRegion"] != region and rec["eventSource"] not in ("iam.amazonaws.com",
                                                                                    "sts.amazonaws.com",
                                                                                    "signin.amazonaws.com"):
                continue
            resources = self._resources(rec)
            matched = self._lookup_match(key, value, rec, resources)
            if matched:
                hits.append((when, rec, resources))
        hits.sort(key=lambda h: h[0], reverse=True)
        if max_results is not None:
            hits = hits[:max_results]
        data = []
        for when, rec, resources in hits:
            row: dict[str, Any] = {
                "EventId": rec["eventID"], "EventName": rec["eventName"], "EventTime": aws_time(when),
                "EventSource": rec["eventSource"],
                "ResourceName": resources[0]["ResourceName"] if resources else None,
                "ResourceType": resources[0]["ResourceType"] if resources else None,
                "CloudTrailEvent": json.dumps(rec, separators=(",", ":")),
            }
            username = self._lookup_username(rec)
            if username:
                row["Username"] = username
            data.append(row)
        ec = {"AWS.CloudTrail.Events(val.EventId == obj.EventId)": data}
        readable = table_to_markdown("AWS CloudTrail Trails", data,
                                     ["EventId", "EventName", "EventTime", "EventSource", "Username", "ResourceName"])
        return [note_entry(AWS_CLOUDTRAIL, ec, readable, ec)]

    # ---- Okta v2 -----------------------------------------------------------------------------------
    @staticmethod
    def _okta_raw(user: dict[str, Any]) -> dict[str, Any]:
        return {k: copy.deepcopy(v) for k, v in user.items() if k not in ("groups", "sessions")}

    @staticmethod
    def _okta_context(user: dict[str, Any]) -> dict[str, Any]:
        profile = user["profile"]
        return {
            "ID": user["id"], "Username": profile.get("login"),
            "DisplayName": f"{profile.get('firstName', '')} {profile.get('lastName', '')}",
            "Email": profile.get("email"), "Status": user["status"], "Type": "Okta",
            "Created": user.get("created"), "Activated": user.get("activated"),
            "StatusChanged": user.get("statusChanged"), "PasswordChanged": user.get("passwordChanged"),
            "Manager": profile.get("manager"), "ManagerEmail": profile.get("managerEmail"),
        }

    def _cmd_okta_get_user(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        users = self.state["okta"]["users"]
        term = args.get("userEmail") or args.get("userId") or args.get("username")
        found = None
        if args.get("userEmail"):
            found = next((u for u in users.values() if (u["profile"].get("email") or "").lower() == term.lower()), None)
        else:
            found = users.get(term) or next(
                (u for u in users.values() if (u["profile"].get("login") or "").lower() == str(term).lower()), None)
        meta = self._okta_metadata()
        if found is None:
            return [note_entry(OKTA, {}, f"User {term!r} was not found.", meta)]
        ctx = self._okta_context(found)
        readable = table_to_markdown(f"User:{term}", {
            "ID": found["id"], "Login": found["profile"].get("login"), "First Name": found["profile"].get("firstName"),
            "Last Name": found["profile"].get("lastName"), "Mobile Phone": found["profile"].get("mobilePhone"),
            "Last Login": found.get("lastLogin"), "Status": found["status"],
            "Manager": found["profile"].get("manager"), "Manager Email": found["profile"].get("managerEmail")})
        return [note_entry(OKTA, self._okta_raw(found), readable,
                           {"Account(val.ID && val.ID === obj.ID)": [ctx], **meta})]

    def _cmd_okta_get_groups(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        user = self._okta_by_login(args["username"], "okta-get-groups")
        raw = [copy.deepcopy(self.state["okta"]["groups"][g]) for g in user["groups"]]
        groups = [{"ID": g["id"], "Created": g["created"], "ObjectClass": g["objectClass"],
                   "LastUpdated": g["lastUpdated"], "LastMembershipUpdated": g["lastMembershipUpdated"],
                   "Type": g["type"], "Name": g["profile"]["name"], "Description": g["profile"].get("description")}
                  for g in raw]
        ctx = {"Account(val.ID && val.ID === obj.ID)": {"Group": [{k: v for k, v in g.items() if v is not None}
                                                                  for g in groups],
                                                        "ID": user["id"], "Type": "Okta"},
               **self._okta_metadata()}
        readable = f"Okta groups for user: {args['username']}\n {table_to_markdown('Groups', groups)}"
        return [note_entry(OKTA, raw, readable, ctx)]

    @staticmethod
    def _okta_value(event: dict[str, Any], path: str) -> list[str]:
        nodes: list[Any] = [event]
        for part in path.split("."):
            nxt: list[Any] = []
            for node in nodes:
                if isinstance(node, list):
                    nxt.extend(n.get(part) for n in node if isinstance(n, dict))
                elif isinstance(node, dict):
                    nxt.append(node.get(part))
            nodes = [n for n in nxt if n is not None]
        flat: list[str] = []
        for node in nodes:
            if isinstance(node, list):
                flat.extend(str(n) for n in node if not isinstance(n, dict))
            elif not isinstance(node, dict):
                flat.append(str(node).lower() if isinstance(node, bool) else str(node))
        return flat

    def _okta_filter(self, expression: str) -> Callable[[dict[str, Any]], bool]:
        clauses = re.split(r"\s+and\s+", expression.strip(), flags=re.I)
        preds = []
        for clause in clauses:
            if re.search(r"\s(or|not)\s|^\(|\)$", clause, flags=re.I):
                raise _CommandError("Failed to execute okta-get-logs command.\nError:\nlocalsoc supports only "
                                    f"'<attr> eq|sw|co \"<value>\"' clauses joined by 'and' (got {clause!r})")
            match = re.fullmatch(r'([A-Za-z][\w.]*)\s+(eq|sw|co)\s+"([^"]*)"', clause.strip())
            if not match:
                raise _CommandError("Error in API call [400] - Bad Request\n{\"errorCode\":\"E0000031\","
                                    f"\"errorSummary\":\"Invalid search criteria.\",\"clause\":{json.dumps(clause)}}}")
            attr, op, val = match.groups()
            preds.append((attr, op, val))

        def check(event: dict[str, Any]) -> bool:
            for attr, op, val in preds:
                values = self._okta_value(event, attr)
                if op == "eq" and val not in values:
                    return False
                if op == "sw" and not any(v.startswith(val) for v in values):
                    return False
                if op == "co" and not any(val.lower() in v.lower() for v in values):
                    return False
            return True

        return check

    def _okta_logs(self, args: dict[str, Any], command: str) -> list[dict[str, Any]]:
        events = list(self.scenario.records("okta"))
        try:
            since = parse_time(args["since"]) if args.get("since") else None
            until = parse_time(args["until"]) if args.get("until") else None
        except ValueError as exc:
            raise _CommandError(f"Failed to execute {command} command.\nError:\n{exc}") from exc
        now = self.clock.now()
        events = [e for e in events if parse_time(e["published"]) <= now
                  and (since is None or parse_time(e["published"]) >= since)
                  and (until is None or parse_time(e["published"]) < until)]
        if args.get("filter"):
            check = self._okta_filter(args["filter"])
            events = [e for e in events if check(e)]
        if args.get("query"):
            words = str(args["query"]).lower().split()
            events = [e for e in events if all(w in json.dumps(e).lower() for w in words)]
        events.sort(key=lambda e: parse_time(e["published"]),
                    reverse=str(args.get("sortOrder", "ASCENDING")).upper() == "DESCENDING")
        limit = _to_int(args.get("limit"), "limit", 100)
        return events[:limit] if limit else events

    def _okta_logs_entry(self, events: list[dict[str, Any]], title: str) -> list[dict[str, Any]]:
        if not events:
            return [note_entry(OKTA, [], "No logs found", {})]
        rows = []
        for ev in events:
            client = ev.get("client") or {}
            agent = client.get("userAgent") or {}
            browser = agent.get("browser") if agent.get("browser") not in (None, "UNKNOWN") else "Unknown browser"
            os_name = agent.get("os") if agent.get("os") not in (None, "Unknown") else "Unknown OS"
            device = client.get("device") or "Unknown device"
            actor = ev.get("actor") or {}
            outcome = ev.get("outcome") or {}
            rows.append({
                "Actor": f"{actor.get('displayName')} ({actor.get('type')})",
                "ActorAlternaneId": actor.get("alternateId"),
                "EventInfo": ev.get("displayMessage"),
                "EventOutcome": str(outcome.get("result") or "") + (f": {outcome['reason']}" if outcome.get("reason")
                                                                     else ""),
                "EventSeverity": ev.get("severity"),
                "Client": f"{browser} on {os_name} {device}",
                "RequestIP": client.get("ipAddress"),
                "ChainIP": [c.get("ip") for c in ((ev.get("request") or {}).get("ipChain") or [])
                            if isinstance(c, dict)],
                "Targets": "".join(f"{t.get('displayName')} ({t.get('type')})\n"
                                   for t in ev.get("target") or []) or "-",
                "Time": parse_time(ev["published"]).strftime("%m/%d/%Y, %H:%M:%S"),
            })
        ctx = {"Okta.Logs.Events(val.uuid && val.uuid === obj.uuid)": copy.deepcopy(events)}
        return [note_entry(OKTA, copy.deepcopy(events), table_to_markdown(title, rows), ctx)]

    def _cmd_okta_get_logs(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        return self._okta_logs_entry(self._okta_logs(args, "okta-get-logs"), "Okta Events")

    def _cmd_okta_get_failed_logins(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        args = {**args, "filter": 'eventType eq "user.session.start" and outcome.result eq "FAILURE"'}
        return self._okta_logs_entry(self._okta_logs(args, "okta-get-failed-logins"), "Failed Login Events")

    def _okta_lifecycle(self, args: dict[str, Any], command: str, allowed_from: tuple[str, ...], new_status: str,
                        inverse: str, message: str, error: str) -> list[dict[str, Any]]:
        user = self._okta_by_login(args["username"], command)
        if user["status"] not in allowed_from:
            body = json.dumps({"errorCode": "E0000001", "errorSummary": f"Api validation failed: {error}",
                               "errorCauses": [{"errorSummary": error}]})
            raise _CommandError(f"Failed to execute {command} command.\nError:\nError in API call [400] - "
                                f"Bad Request\n{body}")
        act = self._begin(command, args, OKTA, f"Okta user {args['username']} ({user['id']})")
        stamp = self.clock.now().strftime("%Y-%m-%dT%H:%M:%S.000Z")
        self._change(act, ["okta", "users", user["id"], "status"], new_status)
        self._change(act, ["okta", "users", user["id"], "statusChanged"], stamp)
        act["rollback"] = {"command": inverse, "args": {"username": args["username"]}}
        ctx = self._okta_metadata()
        return [note_entry(OKTA, {}, message.format(username=args["username"]), ctx)]

    def _cmd_okta_suspend_user(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        return self._okta_lifecycle(args, "okta-suspend-user", ("ACTIVE",), "SUSPENDED", "okta-unsuspend-user",
                                    "### {username} status is Suspended", "Cannot suspend a user that is not active")

    def _cmd_okta_unsuspend_user(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        return self._okta_lifecycle(args, "okta-unsuspend-user", ("SUSPENDED",), "ACTIVE", "okta-suspend-user",
                                    "### {username} is no longer SUSPENDED", "Cannot unsuspend a user that is not "
                                    "suspended")

    def _cmd_okta_deactivate_user(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        return self._okta_lifecycle(args, "okta-deactivate-user", ("ACTIVE", "SUSPENDED", "LOCKED_OUT", "STAGED",
                                                                   "PROVISIONED", "RECOVERY", "PASSWORD_EXPIRED"),
                                    "DEPROVISIONED", "okta-activate-user", "### User {username} deactivated",
                                    "User is already deactivated")

    def _cmd_okta_activate_user(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        return self._okta_lifecycle(args, "okta-activate-user", ("DEPROVISIONED", "STAGED", "PROVISIONED"),
                                    "ACTIVE", "okta-deactivate-user", "### {username} is active now",
                                    "Activation failed because the user is already active")

    def _cmd_okta_clear_user_sessions(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        user_id = args["userId"]
        user = self.state["okta"]["users"].get(user_id)
        if user is None:
            body = json.dumps({"errorCode": "E0000007",
                               "errorSummary": f"Not found: Resource not found: {user_id} (User)"})
            raise _CommandError("Failed to execute okta-clear-user-sessions command.\nError:\n"
                                f"Error in API call [404] - Not Found\n{body}")
        act = self._begin("okta-clear-user-sessions", args, OKTA, f"sessions of Okta user {user_id}")
        self._change(act, ["okta", "users", user_id, "sessions"], 0)
        act["rollback"] = None
        act["reversible_on_tenant"] = False  # cleared sessions and revoked tokens cannot be restored
        return [note_entry(OKTA, "", f"### User session was cleared for: {user_id}", self._okta_metadata())]

    # ---- SplunkPy ----------------------------------------------------------------------------------
    def _cmd_splunk_search(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        query = str(args["query"])
        limit = _to_int(args.get("event_limit"), "event_limit", 100)
        try:
            results = run_search(query, self.scenario.datasets, self.clock.now(), args.get("earliest_time"),
                                 args.get("latest_time"), limit or None)
        except SplunkQueryError as exc:
            raise _CommandError(f"Error in 'search' command: {exc}") from exc
        ec: dict[str, Any] = {}
        if str(args.get("update_context", "true")).lower() == "true":
            ec["Splunk.Result"] = results
        rows = [{k: e.get(k) for k in ("_time", "index", "sourcetype", "_raw")} for e in results]
        readable = table_to_markdown(f"Splunk Search results for query: {query}", rows,
                                     ["_time", "index", "sourcetype", "_raw"])
        return [note_entry(SPLUNK, results, readable, ec)]

    # ---- AWS-WAF -----------------------------------------------------------------------------------
    def _ip_set(self, args: dict[str, Any], operation: str) -> dict[str, Any]:
        ip_set = self.state["waf"]["ip_sets"].get(args["id"])
        scope = args.get("scope", "Regional")
        if ip_set is None or ip_set["Name"] != args["name"] or ip_set["Scope"] != scope:
            raise _CommandError(f"An error occurred (WAFNonexistentItemException) when calling the {operation} "
                                "operation: AWS WAF couldn’t perform the operation because your resource doesn’t "
                                "exist.")
        return ip_set

    def _cmd_aws_waf_ip_set_get(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        ip_set = self._ip_set(args, "GetIPSet")
        data = {k: copy.deepcopy(ip_set[k]) for k in ("Name", "Id", "ARN", "Description", "IPAddressVersion",
                                                        "Addresses")}
        ec = {context_key("AWS.Waf.IpSet", "Id"): data}
        return [note_entry(AWS_WAF, {"IPSet": data, "LockToken": ip_set["LockToken"]},
                           table_to_markdown("IP set", data), ec)]

    def _cmd_aws_waf_ip_set_list(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        scope = args.get("scope", "Regional")
        data = [{k: s[k] for k in ("Name", "Id", "Description", "LockToken", "ARN")}
                for s in self.state["waf"]["ip_sets"].values() if s["Scope"] == scope]
        ec = {context_key("AWS.Waf.IpSet", "Id"): data}
        return [note_entry(AWS_WAF, {"IPSets": data}, table_to_markdown("List IP Sets", data), ec)]

    def _cmd_aws_waf_ip_set_update(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        ip_set = self._ip_set(args, "UpdateIPSet")
        new = []
        for addr in _as_list(args["addresses"]):
            cidr = addr if "/" in addr else (f"{addr}/32" if ":" not in addr else f"{addr}/128")
            if not re.fullmatch(r"[0-9a-fA-F.:]+/\d{1,3}", cidr):
                raise _CommandError("An error occurred (WAFInvalidParameterException) when calling the UpdateIPSet "
                                    f"operation: Error reason: The parameter contains formatting that is not valid., "
                                    f"field: IP_ADDRESS, parameter: {addr}")
            new.append(cidr)
        overwrite = str(args.get("is_overwrite", "false")).lower() == "true"
        addresses = new if overwrite else list(dict.fromkeys(ip_set["Addresses"] + new))
        act = self._begin("aws-waf-ip-set-update", args, AWS_WAF, f"WAF IP set {ip_set['Name']}: {', '.join(new)}")
        previous = list(ip_set["Addresses"])
        self._change(act, ["waf", "ip_sets", ip_set["Id"], "Addresses"], addresses)
        if args.get("description") is not None:
            self._change(act, ["waf", "ip_sets", ip_set["Id"], "Description"], args["description"])
        act["rollback"] = {"command": "aws-waf-ip-set-update",
                           "args": {"name": ip_set["Name"], "id": ip_set["Id"], "scope": ip_set["Scope"],
                                    "addresses": ",".join(previous), "is_overwrite": "true"}}
        return [text_entry(AWS_WAF, f"IP set {ip_set['Name']} was updated successfully.")]

    def blocked_addresses(self) -> list[str]:
        """Every address in any WAF IP set or the Zscaler block list (what 'is this IP blocked?' reads)."""
        waf = [a for s in self.state["waf"]["ip_sets"].values() for a in s["Addresses"]]
        return waf + list(self.state["zscaler"]["blacklist"])

    # ---- Zscaler -----------------------------------------------------------------------------------
    def _zscaler_list(self, args: dict[str, Any], add: bool) -> list[dict[str, Any]]:
        ips = _as_list(args["ip"])
        bad = [ip for ip in ips if not is_ip(ip)]
        if bad:
            raise _CommandError(f"Error in API call [400] - Bad Request: invalid IP address(es): {', '.join(bad)}")
        current = list(self.state["zscaler"]["blacklist"])
        if add:
            updated = list(dict.fromkeys(current + ips))
        else:
            missing = [ip for ip in ips if ip not in current]
            if missing:
                raise _CommandError(f"Given IP addresses are not in the block list: {', '.join(missing)}")
            updated = [ip for ip in current if ip not in ips]
        command = "zscaler-blacklist-ip" if add else "zscaler-undo-blacklist-ip"
        act = self._begin(command, args, ZSCALER, f"Zscaler block list {'+' if add else '-'} {', '.join(ips)}")
        self._change(act, ["zscaler", "blacklist"], updated)
        act["rollback"] = {"command": "zscaler-undo-blacklist-ip" if add else "zscaler-blacklist-ip",
                           "args": {"ip": ",".join(ip for ip in ips if (ip not in current) == add)}}
        verb = "Added the following IP addresses to" if add else "Removed the following IP addresses from"
        return [text_entry(ZSCALER, f"{verb} the block list successfully:\n" + "\n".join(ips))]

    def _cmd_zscaler_blacklist_ip(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        return self._zscaler_list(args, add=True)

    def _cmd_zscaler_undo_blacklist_ip(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        return self._zscaler_list(args, add=False)

    # ---- Exabeam -----------------------------------------------------------------------------------
    def _cmd_exabeam_get_user_info(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        username = args["username"]
        result = compute_risk(username, self.scenario, self.state, self.reputation)
        known = username in self.state["iam"]["users"] or len(aliases_for(username, self.state)) > 1
        if not result.activities and not known:
            return [note_entry(EXABEAM, {}, f"User {username} was not found", {})]
        acts = result.activities
        user = self.state["iam"]["users"].get(username, {})
        labels = [lab for lab, flag in (("privileged_user", user.get("IsAdmin")),
                                        ("service_account", user.get("IsService"))) if flag]
        profile = self.scenario.baseline.get("principals", {}).get(username) or {}
        first_seen = profile.get("first_seen") or (aws_time(acts[0].when) if acts else None)
        contents = {
            "Username": username,
            "RiskScore": result.score,
            "AverageRiskScore": result.average_risk_score,
            "LastSessionID": f"{username}-{acts[-1].when.strftime('%Y%m%d%H%M%S')}" if acts else None,
            "FirstSeen": aws_time(parse_time(first_seen)) if first_seen else None,
            "LastSeen": aws_time(acts[-1].when) if acts else None,
            "LastActivityType": acts[-1].action if acts else None,
            "Label": labels,
            "AccountNames": sorted({username} | ({user["Email"]} if user.get("Email") else set())),
            "PeerGroupFieldName": "Peer Groups" if result.peer_group else None,
            "PeerGroupFieldValue": result.peer_group,
            "PeerGroupDisplayName": result.peer_group,
            "PeerGroupType": "Group" if result.peer_group else None,
        }
        contents = {k: v for k, v in contents.items() if v is not None}
        raw = {**contents, "notable": result.score >= NOTABLE_THRESHOLD, "baselineFound": result.baseline_found,
               "riskReasons": result.components}
        readable = table_to_markdown(f"User {username} information", contents) + "\n" + table_to_markdown(
            "Risk reasons", result.components, ["rule", "points", "reason"])
        ec = {"Exabeam.User(val.UserName && val.UserName === obj.UserName)": contents}
        return [note_entry(EXABEAM, raw, readable, ec)]

    # ---- convenience for the runtime and reports ---------------------------------------------------
    def permission_changes(self) -> list[dict[str, Any]]:
        """IAM permission-relevant CloudTrail events (applied or denied) in time order, derived at load."""
        return copy.deepcopy(self.state["permission_changes"])

    def now(self) -> datetime:
        return self.clock.now()

    def splunk_time(self, value: str) -> datetime:
        """Resolve a Splunk-style time against the simulated clock (used by tests and reports)."""
        return parse_relative_or_absolute(value, self.clock.now())
