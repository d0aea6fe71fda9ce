"""The simulated tenant's mutable state, derived from the scenario.

``directory`` (when present) is the identity inventory at the start of the record window; the CloudTrail and
Okta records are then replayed on top in time order. Replay is idempotent (attaching an already attached
policy changes nothing), so a directory that already reflects the records gives the same result. Without a
directory everything comes from the records: identities from ``userIdentity``, access keys from
``accessKeyId`` and ``CreateAccessKey`` responses, group/policy membership and permission changes from the
IAM write events. Failed calls (``errorCode`` set) never change state but are kept in the change history,
because an AccessDenied burst is evidence too.

State is plain JSON-compatible dicts so ``snapshot()`` is a deep copy and equality is exact.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any

from localsoc.soc.records import identity_user_name, is_user_action
from localsoc.soc.scenario import Scenario
from localsoc.soc.timeutil import aws_time, iso_z, parse_time

__all__ = ["ADMIN_POLICY_ARN", "PERMISSION_EVENTS", "build_state", "policy_name", "stable_id"]

ADMIN_POLICY_ARN = "arn:aws:iam::aws:policy/AdministratorAccess"

PERMISSION_EVENTS = {
    "CreateUser", "DeleteUser", "CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey",
    "AttachUserPolicy", "DetachUserPolicy", "PutUserPolicy", "DeleteUserPolicy",
    "AddUserToGroup", "RemoveUserFromGroup", "CreateLoginProfile", "UpdateLoginProfile", "DeleteLoginProfile",
    "AttachGroupPolicy", "DetachGroupPolicy", "PutGroupPolicy", "AttachRolePolicy", "DetachRolePolicy",
    "PutRolePolicy", "DeleteRolePolicy", "UpdateAssumeRolePolicy", "CreateRole", "CreatePolicyVersion",
    "SetDefaultPolicyVersion", "EnableMFADevice", "DeactivateMFADevice",
}

_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def stable_id(prefix: str, seed: str, length: int = 17, upper: bool = False) -> str:
    """Deterministic vendor-looking id (Okta 00u..., IAM AIDA...) so derived state is reproducible."""
    digest = int(hashlib.sha256(seed.encode()).hexdigest(), 16)
    alphabet = _ALNUM[:36] if upper else _ALNUM
    chars = []
    for _ in range(length):
        digest, rem = divmod(digest, len(alphabet))
        chars.append(alphabet[rem])
    return prefix + "".join(chars)


def policy_name(arn: str) -> str:
    return str(arn).rsplit("/", 1)[-1]


def _text_field(mapping: dict[str, Any], key: str) -> str | None:
    """A non-empty string field of a vendor object, else None (CloudTrail parameters are free-form JSON)."""
    value = mapping.get(key)
    return value if isinstance(value, str) and value else None


def _object_field(mapping: dict[str, Any], key: str) -> dict[str, Any]:
    value = mapping.get(key)
    return value if isinstance(value, dict) else {}


def _aws_date(value: Any, fallback: str) -> str:
    """CloudTrail responseElements dates come as 'Oct 5, 2023, 10:22:41 AM' or ISO; normalise to AWS format."""
    if not value:
        return fallback
    text = str(value)
    for fmt in ("%b %d, %Y, %I:%M:%S %p", "%b %d, %Y %I:%M:%S %p"):
        try:
            return aws_time(datetime.strptime(text, fmt).replace(tzinfo=UTC))
        except ValueError:
            pass
    try:
        return aws_time(parse_time(text))
    except ValueError:
        return fallback


class _Builder:
    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.account_id = self._account_id()
        self.state: dict[str, Any] = {
            "account_id": self.account_id,
            "iam": {"users": {}, "groups": {}, "roles": {}},
            "okta": {"users": {}, "groups": {}},
            "waf": {"ip_sets": {}},
            "zscaler": {"blacklist": []},
            "permission_changes": [],
        }

    def _account_id(self) -> str:
        directory = self.scenario.directory or {}
        if directory.get("account_id"):
            return directory["account_id"]
        for rec in self.scenario.records("cloudtrail"):
            if rec.get("recipientAccountId"):
                return rec["recipientAccountId"]
        return "123456789012"

    # ---- IAM --------------------------------------------------------------------------------------
    def iam_user(self, name: str, when: str, source: str, arn: str | None = None,
                 user_id: str | None = None) -> dict[str, Any]:
        users = self.state["iam"]["users"]
        user = users.get(name)
        if user is None:
            user = users[name] = {
                "UserName": name,
                "UserId": user_id or stable_id("AIDA", f"user:{name}", 17, upper=True),
                "Arn": arn or f"arn:aws:iam::{self.account_id}:user/{name}",
                "Path": "/",
                "CreateDate": when,
                "PasswordLastUsed": None,
                "AccessKeys": {},
                "AttachedPolicies": {},
                "InlinePolicies": {},
                "Groups": [],
                "LoginProfile": False,
                "MFA": None,
                "IsAdmin": False,
                "IsService": False,
                "Email": None,
                "Source": source,
            }
        else:
            if user_id and user["Source"] != "directory":
                user["UserId"] = user_id
        return user

    def iam_group(self, name: str, when: str) -> dict[str, Any]:
        groups = self.state["iam"]["groups"]
        if name not in groups:
            groups[name] = {
                "GroupName": name,
                "GroupId": stable_id("AGPA", f"group:{name}", 17, upper=True),
                "Arn": f"arn:aws:iam::{self.account_id}:group/{name}",
                "Path": "/",
                "CreateDate": when,
                "AttachedPolicies": {},
            }
        return groups[name]

    def iam_role(self, name: str, when: str, arn: str | None = None) -> dict[str, Any]:
        roles = self.state["iam"]["roles"]
        if name not in roles:
            roles[name] = {
                "RoleName": name,
                "RoleId": stable_id("AROA", f"role:{name}", 17, upper=True),
                "Arn": arn or f"arn:aws:iam::{self.account_id}:role/{name}",
                "Path": "/",
                "CreateDate": when,
                "AttachedPolicies": {},
                "InlinePolicies": {},
                "AssumeRolePolicyDocument": None,
            }
        return roles[name]

    def load_directory(self) -> None:
        directory = self.scenario.directory
        if not directory:
            return
        for group in directory.get("groups", []):
            created = aws_time(self.scenario.now)
            g = self.iam_group(group["name"], created)
            for pol in group.get("attached_policies", []):
                g["AttachedPolicies"][pol["PolicyArn"]] = pol.get("PolicyName") or policy_name(pol["PolicyArn"])
        for entry in directory["users"]:
            created = aws_time(parse_time(entry["created"])) if entry.get("created") else aws_time(self.scenario.now)
            user = self.iam_user(entry["name"], created, "directory", arn=entry.get("arn"),
                                 user_id=entry.get("user_id"))
            user["CreateDate"] = created
            user["Email"] = entry.get("email")
            user["IsAdmin"] = bool(entry.get("is_admin", False))
            user["IsService"] = bool(entry.get("is_service", False))
            user["MFA"] = entry.get("mfa")
            user["LoginProfile"] = bool(entry.get("login_profile", not entry.get("is_service", False)))
            for key in entry.get("access_keys", []):
                user["AccessKeys"][key["AccessKeyId"]] = {
                    "AccessKeyId": key["AccessKeyId"], "Status": key["Status"],
                    "CreateDate": aws_time(parse_time(key["CreateDate"])),
                }
            for pol in entry.get("attached_policies", []):
                user["AttachedPolicies"][pol["PolicyArn"]] = pol.get("PolicyName") or policy_name(pol["PolicyArn"])
            for name in entry.get("inline_policies", []):
                user["InlinePolicies"][name] = None
            for gname in entry.get("groups", []):
                self.iam_group(gname, created)
                if gname not in user["Groups"]:
                    user["Groups"].append(gname)
            self.okta_user_from_directory(entry)

    def identity_from_record(self, rec: dict[str, Any]) -> str | None:
        """Register the caller; return the IAM user name when the caller is an IAM user.

        Insights events have no caller; identities without a type (AWS Internal), anonymous principals and
        placeholder names (HIDDEN_DUE_TO_SECURITY_REASONS) register nobody.
        """
        ident = _object_field(rec, "userIdentity")
        if not is_user_action(rec):
            return None
        when = aws_time(parse_time(rec["eventTime"]))
        kind = ident.get("type")
        if kind == "IAMUser" and identity_user_name(ident):
            user = self.iam_user(ident["userName"], when, "cloudtrail", arn=ident.get("arn"),
                                 user_id=ident.get("principalId"))
            key = ident.get("accessKeyId") or ""
            # ASIA... ids are temporary STS credentials (console/session), not IAM access keys.
            if key.startswith("AKIA") and key not in user["AccessKeys"]:
                user["AccessKeys"][key] = {"AccessKeyId": key, "Status": "Active", "CreateDate": when}
            if rec.get("eventName") == "ConsoleLogin" and not rec.get("errorCode"):
                user["PasswordLastUsed"] = when
                user["LoginProfile"] = True
            return ident["userName"]
        if kind == "AssumedRole":
            issuer = _object_field(_object_field(ident, "sessionContext"), "sessionIssuer")
            if _text_field(issuer, "userName"):
                self.iam_role(issuer["userName"], when, arn=_text_field(issuer, "arn"))
        return None

    def apply_cloudtrail(self, rec: dict[str, Any], caller: str | None) -> None:
        if not is_user_action(rec):  # an Insights event reports a call rate, it changes no permission
            return
        name = rec["eventName"]
        if name not in PERMISSION_EVENTS:
            return
        # Free-form vendor JSON: keep only string values of the fields replayed below, so an odd record (a
        # list where a name was expected, an accessKey that is a string) is recorded but changes nothing.
        rp = {k: v for k, v in _object_field(rec, "requestParameters").items()
              if isinstance(v, str) or k in ("policyDocument", "assumeRolePolicyDocument")}
        re_ = _object_field(rec, "responseElements")
        when = aws_time(parse_time(rec["eventTime"]))
        ok = not rec.get("errorCode")
        target_user = rp.get("userName") or caller
        change = {
            "eventTime": rec["eventTime"], "eventID": rec["eventID"], "eventName": name,
            "actor": _object_field(rec, "userIdentity").get("arn"), "actorUserName": caller,
            "sourceIPAddress": rec.get("sourceIPAddress"), "applied": ok, "errorCode": rec.get("errorCode"),
            "target": rp.get("userName") or rp.get("roleName") or rp.get("groupName") or caller,
            "details": {k: v for k, v in rp.items() if k in ("policyArn", "policyName", "groupName", "accessKeyId",
                                                              "status", "roleName")},
        }
        new_key = _object_field(re_, "accessKey")
        if name == "CreateAccessKey" and new_key:
            change["details"]["accessKeyId"] = _text_field(new_key, "accessKeyId")
            change["target"] = _text_field(new_key, "userName") or target_user
        self.state["permission_changes"].append(change)
        if not ok:
            return
        users = self.state["iam"]["users"]
        if name == "CreateUser":
            info = _object_field(re_, "user")
            created = rp.get("userName") or _text_field(info, "userName")
            if created:  # CloudTrail may omit both parameters and response: nothing names the new user
                self.iam_user(created, _aws_date(info.get("createDate"), when), "cloudtrail",
                              arn=_text_field(info, "arn"), user_id=_text_field(info, "userId"))
        elif name == "DeleteUser" and rp.get("userName"):
            users.pop(rp["userName"], None)
        elif name == "CreateAccessKey":
            info = new_key
            owner = _text_field(info, "userName") or target_user
            key_id = _text_field(info, "accessKeyId")
            if owner and key_id:
                user = self.iam_user(owner, when, "cloudtrail")
                user["AccessKeys"].setdefault(key_id, {
                    "AccessKeyId": key_id, "Status": info.get("status", "Active"),
                    "CreateDate": _aws_date(info.get("createDate"), when),
                })
        elif name in ("UpdateAccessKey", "DeleteAccessKey") and rp.get("accessKeyId"):
            for user in users.values():
                key = user["AccessKeys"].get(rp["accessKeyId"])
                if key is not None:
                    if name == "DeleteAccessKey":
                        del user["AccessKeys"][rp["accessKeyId"]]
                    else:
                        key["Status"] = rp.get("status", key["Status"])
        elif name in ("AttachUserPolicy", "DetachUserPolicy") and target_user and rp.get("policyArn"):
            user = self.iam_user(target_user, when, "cloudtrail")
            if name == "AttachUserPolicy":
                user["AttachedPolicies"][rp["policyArn"]] = policy_name(rp["policyArn"])
            else:
                user["AttachedPolicies"].pop(rp["policyArn"], None)
        elif name in ("PutUserPolicy", "DeleteUserPolicy") and target_user and rp.get("policyName"):
            user = self.iam_user(target_user, when, "cloudtrail")
            if name == "PutUserPolicy":
                user["InlinePolicies"][rp["policyName"]] = rp.get("policyDocument")
            else:
                user["InlinePolicies"].pop(rp["policyName"], None)
        elif name in ("AddUserToGroup", "RemoveUserFromGroup") and rp.get("groupName") and target_user:
            user = self.iam_user(target_user, when, "cloudtrail")
            self.iam_group(rp["groupName"], when)
            if name == "AddUserToGroup" and rp["groupName"] not in user["Groups"]:
                user["Groups"].append(rp["groupName"])
            elif name == "RemoveUserFromGroup" and rp["groupName"] in user["Groups"]:
                user["Groups"].remove(rp["groupName"])
        elif name in ("CreateLoginProfile", "UpdateLoginProfile", "DeleteLoginProfile") and target_user:
            self.iam_user(target_user, when, "cloudtrail")["LoginProfile"] = name != "DeleteLoginProfile"
        elif name in ("AttachGroupPolicy", "DetachGroupPolicy") and rp.get("groupName") and rp.get("policyArn"):
            group = self.iam_group(rp["groupName"], when)
            if name == "AttachGroupPolicy":
                group["AttachedPolicies"][rp["policyArn"]] = policy_name(rp["policyArn"])
            else:
                group["AttachedPolicies"].pop(rp["policyArn"], None)
        elif name in ("AttachRolePolicy", "DetachRolePolicy", "PutRolePolicy", "DeleteRolePolicy",
                      "UpdateAssumeRolePolicy", "CreateRole") and rp.get("roleName"):
            role = self.iam_role(rp["roleName"], when)
            if name == "AttachRolePolicy" and rp.get("policyArn"):
                role["AttachedPolicies"][rp["policyArn"]] = policy_name(rp["policyArn"])
            elif name == "DetachRolePolicy" and rp.get("policyArn"):
                role["AttachedPolicies"].pop(rp["policyArn"], None)
            elif name == "PutRolePolicy" and rp.get("policyName"):
                role["InlinePolicies"][rp["policyName"]] = rp.get("policyDocument")
            elif name == "DeleteRolePolicy" and rp.get("policyName"):
                role["InlinePolicies"].pop(rp["policyName"], None)
            elif name == "UpdateAssumeRolePolicy":
                role["AssumeRolePolicyDocument"] = rp.get("policyDocument")
            elif name == "CreateRole":
                role["AssumeRolePolicyDocument"] = rp.get("assumeRolePolicyDocument")
        elif name in ("EnableMFADevice", "DeactivateMFADevice") and target_user:
            self.iam_user(target_user, when, "cloudtrail")["MFA"] = name == "EnableMFADevice"

    def finish_iam(self) -> None:
        groups = self.state["iam"]["groups"]
        for user in self.state["iam"]["users"].values():
            via_group = any(ADMIN_POLICY_ARN in groups.get(g, {}).get("AttachedPolicies", {}) for g in user["Groups"])
            if ADMIN_POLICY_ARN in user["AttachedPolicies"] or via_group:
                user["IsAdmin"] = True

    # ---- Okta -------------------------------------------------------------------------------------
    def okta_group(self, name: str, okta_id: str | None = None) -> dict[str, Any]:
        groups = self.state["okta"]["groups"]
        for group in groups.values():
            if group["profile"]["name"] == name:
                return group
        gid = okta_id or stable_id("00g", f"okta-group:{name}", 17)
        stamp = iso_z(self.scenario.now, millis=True)
        groups[gid] = {
            "id": gid, "created": stamp, "lastUpdated": stamp, "lastMembershipUpdated": stamp,
            "objectClass": ["okta:user_group"], "type": "OKTA_GROUP",
            "profile": {"name": name, "description": None},
        }
        return groups[gid]

    def okta_user(self, uid: str, login: str, display: str | None, when: str) -> dict[str, Any]:
        users = self.state["okta"]["users"]
        user = users.get(uid)
        if user is None:
            first, _, last = (display or login.split("@")[0]).partition(" ")
            user = users[uid] = {
                "id": uid, "status": "ACTIVE", "created": when, "activated": when, "statusChanged": when,
                "lastLogin": None, "lastUpdated": when, "passwordChanged": when, "type": {"id": "oty00000000000000000"},
                "profile": {"firstName": first, "lastName": last, "login": login,
                            "email": login if "@" in login else None,
                            "mobilePhone": None, "manager": None, "managerEmail": None},
                "groups": [], "sessions": 0,
            }
        return user

    def okta_user_from_directory(self, entry: dict[str, Any]) -> None:
        login = entry.get("okta_login") or (entry["name"] if "@" in entry["name"] else entry.get("email"))
        if not (entry.get("okta_id") or entry.get("okta_login")) or not login:
            return
        uid = entry.get("okta_id") or stable_id("00u", f"okta-user:{login}", 17)
        created = parse_time(entry["created"]) if entry.get("created") else self.scenario.now
        when = iso_z(created, millis=True)
        user = self.okta_user(uid, login, entry.get("display_name"), when)
        user["status"] = entry.get("okta_status", "ACTIVE")
        user["profile"]["email"] = entry.get("email") or user["profile"]["email"]
        user["profile"]["manager"] = entry.get("manager")
        user["profile"]["title"] = entry.get("title")
        user["profile"]["department"] = entry.get("department")
        for gname in entry.get("groups", []):
            gid = self.okta_group(gname)["id"]
            if gid not in user["groups"]:
                user["groups"].append(gid)

    def apply_okta(self, event: dict[str, Any]) -> None:
        when = event["published"]
        actor = event.get("actor") or {}
        if actor.get("type") == "User" and actor.get("alternateId"):
            user = self.okta_user(actor["id"], actor["alternateId"], actor.get("displayName"), when)
        else:
            user = None
        targets = [t for t in (event.get("target") or []) if t.get("type") == "User" and t.get("alternateId")]
        target_users = [self.okta_user(t["id"], t["alternateId"], t.get("displayName"), when) for t in targets]
        ok = (event.get("outcome") or {}).get("result") in ("SUCCESS", "ALLOW")
        etype = event["eventType"]
        if not ok:
            return
        if etype == "user.session.start" and user is not None:
            user["sessions"] += 1
            user["lastLogin"] = when
        elif etype == "user.session.end" and user is not None:
            user["sessions"] = max(0, user["sessions"] - 1)
        subject = target_users[0] if target_users else user
        if subject is None:
            return
        status = {"user.lifecycle.suspend": "SUSPENDED", "user.lifecycle.unsuspend": "ACTIVE",
                  "user.lifecycle.deactivate": "DEPROVISIONED", "user.lifecycle.activate": "ACTIVE",
                  "user.lifecycle.reactivate": "ACTIVE"}.get(etype)
        if status:
            subject["status"] = status
            subject["statusChanged"] = when
        if etype == "user.session.clear":
            subject["sessions"] = 0
        if etype in ("group.user_membership.add", "group.user_membership.remove"):
            for grp in (t for t in (event.get("target") or []) if t.get("type") == "UserGroup"):
                gid = self.okta_group(grp.get("displayName") or grp["id"], okta_id=grp["id"])["id"]
                if etype.endswith("add") and gid not in subject["groups"]:
                    subject["groups"].append(gid)
                elif etype.endswith("remove") and gid in subject["groups"]:
                    subject["groups"].remove(gid)

    # ---- WAF --------------------------------------------------------------------------------------
    def load_waf(self) -> None:
        sets = self.scenario.data.get("waf_ip_sets") or [{
            "Name": "localsoc-blocklist", "Id": "6f1a1c1e-7b3a-4f2e-9a59-0c5d8e1f2a3b", "Scope": "Regional",
            "Description": "IP addresses blocked by incident response", "IPAddressVersion": "IPV4", "Addresses": [],
        }]
        for ip_set in sets:
            scope = ip_set.get("Scope", "Regional")
            kind = "regional" if scope == "Regional" else "global"
            self.state["waf"]["ip_sets"][ip_set["Id"]] = {
                "Name": ip_set["Name"], "Id": ip_set["Id"], "Scope": scope,
                "Description": ip_set.get("Description", ""),
                "IPAddressVersion": ip_set.get("IPAddressVersion", "IPV4"),
                "Addresses": list(ip_set.get("Addresses", [])),
                "ARN": f"arn:aws:wafv2:us-east-1:{self.account_id}:{kind}/ipset/{ip_set['Name']}/{ip_set['Id']}",
                "LockToken": stable_id("", f"lock:{ip_set['Id']}", 8).lower() + "-1",
            }

    def build(self) -> dict[str, Any]:
        self.load_directory()
        timeline: list[tuple[datetime, int, str, dict[str, Any]]] = []
        for i, rec in enumerate(self.scenario.records("cloudtrail")):
            timeline.append((parse_time(rec["eventTime"]), i, "cloudtrail", rec))
        for i, ev in enumerate(self.scenario.records("okta")):
            timeline.append((parse_time(ev["published"]), i, "okta", ev))
        timeline.sort(key=lambda item: (item[0], item[2], item[1]))
        for _, _, kind, rec in timeline:
            if kind == "cloudtrail":
                caller = self.identity_from_record(rec)
                self.apply_cloudtrail(rec, caller)
            else:
                self.apply_okta(rec)
        self.finish_iam()
        self.load_waf()
        self.state["zscaler"]["blacklist"] = list(self.scenario.data.get("zscaler_blacklist", []))
        return self.state


def build_state(scenario: Scenario) -> dict[str, Any]:
    """Derive the initial tenant state (directory first, then the records replayed in time order)."""
    return _Builder(scenario).build()


def is_ip(text: str) -> bool:
    return bool(re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", text or ""))
