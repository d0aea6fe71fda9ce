"""Argument and condition values as the XSOAR server computes them from a playbook YAML.

A playbook never holds Python: it holds *value specs* – ``{simple: '${IP.Address}'}``, ``{complex: {root,
accessor, filters, transformers}}`` and condition operands ``{value: {...}, iscontext: true}`` – that the
server evaluates against the incident context, the playbook inputs and the incident. This module does the
same evaluation so that the shipped YAML, not a re-implementation of it, decides what a task receives.

Everything the module does not implement raises `Unsupported` (re-raised by the interpreter as
`PlaybookUnsupported` with the task id): a silently wrong argument is worse than a stopped run.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from localsoc.playbook.errors import Unsupported

__all__ = [
    "OPERATORS",
    "TRANSFORMERS",
    "Resolver",
    "incident_view",
    "split_path",
    "to_text",
    "walk",
]

_VAR = re.compile(r"\$\{([^{}]*)\}")
_SEGMENT = re.compile(r"^(?P<name>[^\[\]]*)(?P<idx>(?:\[-?\d+\])*)$")
_INDEX = re.compile(r"\[(-?\d+)\]")

Segment = tuple[str, Any]  # ("key", "Address") | ("index", 0)


# --------------------------------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------------------------------


def split_path(path: str) -> list[Segment]:
    """Parse a context path: ``a.b``, ``a.[0].b``, ``a[0].b``, ``Answers.0`` (a dict key named "0").

    DT expressions (``IP(val.Malicious).Address``, ``${.=...}``) are a JavaScript-ish language of their own;
    they are refused rather than approximated.
    """
    text = path.strip()
    if not text:
        raise Unsupported("empty context path")
    if "(" in text or "=" in text or text.startswith("."):
        raise Unsupported(f"DT expression in context path {path!r}")
    segments: list[Segment] = []
    for part in text.split("."):
        m = _SEGMENT.match(part)
        if not m or (not m.group("name") and not m.group("idx")):
            raise Unsupported(f"context path segment {part!r} in {path!r}")
        if m.group("name"):
            segments.append(("key", m.group("name")))
        for idx in _INDEX.findall(m.group("idx")):
            segments.append(("index", int(idx)))
    return segments


def _get_key(obj: Any, key: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key)
    return None


def walk(value: Any, segments: list[Segment]) -> Any:
    """Follow a parsed path. Over a list, a key maps over the elements and flattens (``IP.Address`` of many IPs
    is the list of their addresses), as the server does; a missing value is None."""
    for kind, seg in segments:
        if value is None:
            return None
        if kind == "index":
            if isinstance(value, list):
                try:
                    value = value[seg]
                except IndexError:
                    return None
            elif seg not in (0, -1):
                return None
            continue
        if isinstance(value, list):
            out: list[Any] = []
            for item in value:
                got = _get_key(item, seg)
                if got is None:
                    continue
                if isinstance(got, list):
                    out.extend(got)
                else:
                    out.append(got)
            value = out or None
        else:
            value = _get_key(value, seg)
    return value


def strip_var(text: str) -> str:
    """``${a.b}`` -> ``a.b`` (context operands are written both ways in real playbooks)."""
    m = _VAR.fullmatch(text.strip())
    return m.group(1) if m else text.strip()


def to_text(value: Any) -> str:
    """How a value is spliced into a string argument: lists comma-joined, objects as JSON, None as ''."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(to_text(v) for v in value)
    if isinstance(value, Mapping):
        return json.dumps(value, default=str)
    return str(value)


def incident_view(incident: Mapping[str, Any]) -> dict[str, Any]:
    """``${incident.X}``: the incident's own fields plus its custom fields flattened by CLI name."""
    view = {k: v for k, v in incident.items() if k != "CustomFields"}
    custom = incident.get("CustomFields") or {}
    if isinstance(custom, Mapping):
        for k, v in custom.items():
            view.setdefault(k, v)
    view["CustomFields"] = custom
    return view


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


# --------------------------------------------------------------------------------------------------
# Condition operators
# --------------------------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _norm(value: Any, ignorecase: bool) -> str:
    text = to_text(value)
    return text.casefold() if ignorecase else text


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _any_left(pred: Callable[[Any, Any, bool], bool]) -> Callable[[Any, Any, bool], bool]:
    """Most operators hold for a list when they hold for one of its elements (the server's behaviour)."""

    def op(left: Any, right: Any, ignorecase: bool) -> bool:
        lefts = left if isinstance(left, list) else [left]
        rights = right if isinstance(right, list) else [right]
        return any(pred(lv, rv, ignorecase) for lv in lefts for rv in rights)

    return op


def _negate(op: Callable[[Any, Any, bool], bool]) -> Callable[[Any, Any, bool], bool]:
    return lambda left, right, ic: not op(left, right, ic)


def _str_eq(lv: Any, rv: Any, ic: bool) -> bool:
    if lv is None:
        return False
    return _norm(lv, ic) == _norm(rv, ic)


def _num_cmp(cmp: Callable[[float, float], bool]) -> Callable[[Any, Any, bool], bool]:
    def pred(lv: Any, rv: Any, ic: bool) -> bool:
        a, b = _num(lv), _num(rv)
        return a is not None and b is not None and cmp(a, b)

    return _any_left(pred)


def _members(right: Any) -> list[Any]:
    if isinstance(right, list):
        return right
    if right is None:
        return []
    if isinstance(right, str):
        return [s.strip() for s in right.split(",")]
    return [right]


def _in_list(left: Any, right: Any, ic: bool) -> bool:
    members = {_norm(m, ic) for m in _members(right)}
    lefts = _as_list(left)
    return bool(lefts) and all(_norm(lv, ic) in members for lv in lefts)


def _in(left: Any, right: Any, ic: bool) -> bool:
    if isinstance(right, list):
        return _in_list(left, right, ic)
    rtext = _norm(right, ic)
    lefts = _as_list(left)
    return bool(lefts) and all(_norm(lv, ic) in rtext for lv in lefts)


def _contains_general(left: Any, right: Any, ic: bool) -> bool:
    needles = _as_list(right)
    if isinstance(left, list):
        hay = [_norm(v, ic) for v in left]
        return any(_norm(n, ic) in hay or any(_norm(n, ic) in h for h in hay) for n in needles)
    if left is None:
        return False
    return any(_norm(n, ic) in _norm(left, ic) for n in needles)


def _match(lv: Any, rv: Any, ic: bool) -> bool:
    if lv is None or rv is None:
        return False
    try:
        return re.search(to_text(rv), to_text(lv), re.IGNORECASE if ic else 0) is not None
    except re.error as exc:
        raise Unsupported(f"invalid regular expression {rv!r} for match: {exc}") from exc


def _truthy(lv: Any) -> bool:
    return lv is True or to_text(lv).strip().lower() == "true"


def _falsy(lv: Any) -> bool:
    return lv is False or to_text(lv).strip().lower() == "false"


OPERATORS: dict[str, Callable[[Any, Any, bool], bool]] = {
    "isExists": lambda left, right, ic: left is not None and left != [],
    "isNotExists": lambda left, right, ic: left is None or left == [],
    "isEmpty": lambda left, right, ic: _is_empty(left),
    "isNotEmpty": lambda left, right, ic: not _is_empty(left),
    "isEqualString": _any_left(_str_eq),
    "isNotEqualString": _negate(_any_left(_str_eq)),
    "isEqualNumber": _num_cmp(lambda a, b: a == b),
    "isNotEqualNumber": _negate(_num_cmp(lambda a, b: a == b)),
    "greaterThan": _num_cmp(lambda a, b: a > b),
    "lessThan": _num_cmp(lambda a, b: a < b),
    "greaterThanOrEqual": _num_cmp(lambda a, b: a >= b),
    "lessThanOrEqual": _num_cmp(lambda a, b: a <= b),
    "containsString": _any_left(lambda lv, rv, ic: lv is not None and _norm(rv, ic) in _norm(lv, ic)),
    "notContainsString": _negate(_any_left(lambda lv, rv, ic: lv is not None and _norm(rv, ic) in _norm(lv, ic))),
    "containsGeneral": _contains_general,
    "notContainsGeneral": _negate(_contains_general),
    "startWith": _any_left(lambda lv, rv, ic: lv is not None and _norm(lv, ic).startswith(_norm(rv, ic))),
    "endWith": _any_left(lambda lv, rv, ic: lv is not None and _norm(lv, ic).endswith(_norm(rv, ic))),
    "match": _any_left(_match),
    "notMatch": _negate(_any_left(_match)),
    "in": _in,
    "notIn": _negate(_in),
    "inList": _in_list,
    "notInList": _negate(_in_list),
    "isTrue": lambda left, right, ic: any(_truthy(v) for v in _as_list(left)),
    "isFalse": lambda left, right, ic: any(_falsy(v) for v in _as_list(left)),
}

UNARY_OPERATORS = {"isExists", "isNotExists", "isEmpty", "isNotEmpty", "isTrue", "isFalse"}


# --------------------------------------------------------------------------------------------------
# Transformers
# --------------------------------------------------------------------------------------------------

Transformer = Callable[[Any, dict[str, Any]], Any]


def _per_element(fn: Callable[[Any, dict[str, Any]], Any]) -> Transformer:
    def apply(value: Any, args: dict[str, Any]) -> Any:
        if value is None:
            return None
        if isinstance(value, list):
            return [fn(v, args) for v in value]
        return fn(value, args)

    return apply


def _uniq(value: Any, args: dict[str, Any]) -> Any:
    if not isinstance(value, list):
        return value
    seen: set[str] = set()
    out = []
    for v in value:
        key = json.dumps(v, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out


def _first(value: Any, args: dict[str, Any]) -> Any:
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _last(value: Any, args: dict[str, Any]) -> Any:
    if isinstance(value, list):
        return value[-1] if value else None
    return value


def _join(value: Any, args: dict[str, Any]) -> Any:
    sep = args.get("separator")
    sep = "," if sep is None else to_text(sep)
    if value is None:
        return None
    return sep.join(to_text(v) for v in _as_list(value))


def _split(value: Any, args: dict[str, Any], trim: bool = False) -> Any:
    delim = args.get("delimiter")
    delim = "," if delim is None or delim == "" else to_text(delim)
    if value is None:
        return None
    out: list[Any] = []
    for v in _as_list(value):
        if isinstance(v, str):
            parts = v.split(delim)
            out.extend(p.strip() for p in parts) if trim else out.extend(parts)
        else:
            out.append(v)
    return out


def _stringify(value: Any, args: dict[str, Any]) -> Any:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def _count(value: Any, args: dict[str, Any]) -> int:
    return len(_as_list(value))


def _get_field(value: Any, args: dict[str, Any]) -> Any:
    field = args.get("field")
    if not field:
        raise Unsupported("getField without a field argument")
    return walk(value, split_path(to_text(field)))


def _set_if_empty(value: Any, args: dict[str, Any]) -> Any:
    apply_if_empty = to_text(args.get("applyIfEmpty", "true")).lower() != "false"
    if apply_if_empty and _is_empty(value):
        return args.get("defaultValue")
    return value


def _single_element_array(value: Any, args: dict[str, Any]) -> Any:
    return _as_list(value)


def _if_then_else(value: Any, args: dict[str, Any]) -> Any:
    if not _is_empty(args.get("condition")) or not _is_empty(args.get("lhs")) or not _is_empty(args.get("rhs")):
        raise Unsupported("If-Then-Else with condition/lhs/rhs expressions (only the 'equals' form is implemented)")
    if "equals" in args and args["equals"] is not None:
        hit = to_text(value) == to_text(args["equals"])
    else:
        hit = not _is_empty(value) and not _falsy(value)
    return args.get("then") if hit else args.get("else")


def _sort(value: Any, args: dict[str, Any]) -> Any:
    if not isinstance(value, list):
        return value
    desc = to_text(args.get("descending", "false")).lower() == "true"
    return sorted(value, key=lambda v: (_num(v) is None, _num(v) or 0, to_text(v)), reverse=desc)


def _append(value: Any, args: dict[str, Any]) -> Any:
    item = args.get("item")
    return _as_list(value) + _as_list(item)


def _at_index(value: Any, args: dict[str, Any]) -> Any:
    idx = _num(args.get("index"))
    if idx is None:
        raise Unsupported("atIndex without a numeric index")
    items = _as_list(value)
    try:
        return items[int(idx)]
    except IndexError:
        return None


TRANSFORMERS: dict[str, Transformer] = {
    "uniq": _uniq,
    "FirstArrayElement": _first,
    "LastArrayElement": _last,
    "join": _join,
    "split": _split,
    "splitAndTrim": lambda v, a: _split(v, a, trim=True),
    "toLowerCase": _per_element(lambda v, a: to_text(v).lower()),
    "toUpperCase": _per_element(lambda v, a: to_text(v).upper()),
    "trim": _per_element(lambda v, a: to_text(v).strip()),
    "Stringify": _stringify,
    "count": _count,
    "getField": _get_field,
    "SetIfEmpty": _set_if_empty,
    "ConvertToSingleElementArray": _single_element_array,
    "If-Then-Else": _if_then_else,
    "concat": _per_element(lambda v, a: to_text(a.get("prefix")) + to_text(v) + to_text(a.get("suffix"))),
    "replace": _per_element(
        lambda v, a: to_text(v).replace(to_text(a.get("toReplace")), to_text(a.get("replaceWith")))
        if a.get("toReplace")
        else v
    ),
    "sort": _sort,
    "append": _append,
    "atIndex": _at_index,
}


# --------------------------------------------------------------------------------------------------
# Resolver: value specs -> values
# --------------------------------------------------------------------------------------------------

_COMPLEX_KEYS = {"root", "accessor", "filters", "transformers"}


def check_operand_form(operand: Mapping[str, Any] | Any) -> None:
    """A condition side must be ``{value, iscontext}``: anything else is a feature we do not run (fail loudly)."""
    if not isinstance(operand, Mapping):
        raise Unsupported(f"condition operand form {operand!r}")
    extra = set(operand) - {"value", "iscontext"}
    if extra:
        raise Unsupported(f"condition operand keys {sorted(extra)}")


class Resolver:
    """Evaluates value specs against one scope: its context, the playbook inputs, the incident, XSOAR lists.

    ``lists`` is any mapping of list name -> text; ``${lists.Name}`` reads it, as on the platform.
    """

    def __init__(
        self,
        context: Mapping[str, Any],
        *,
        inputs: Mapping[str, Any] | None = None,
        incident: Mapping[str, Any] | None = None,
        lists: Mapping[str, Any] | None = None,
    ) -> None:
        self.context = context
        self.inputs = inputs or {}
        self.incident = incident or {}
        self.lists = lists or {}

    # --- paths ----------------------------------------------------------------------------------

    def path(self, path: str) -> Any:
        """The value at a context path; ``inputs.``, ``incident.`` and ``lists.`` reach outside the context."""
        segments = split_path(strip_var(path))
        kind, head = segments[0]
        if kind == "key" and head == "inputs":
            return copy.deepcopy(walk(self.inputs, segments[1:]) if len(segments) > 1 else dict(self.inputs))
        if kind == "key" and head == "incident":
            return copy.deepcopy(walk(incident_view(self.incident), segments[1:]))
        if kind == "key" and head == "lists" and len(segments) > 1:
            return walk(self.lists, segments[1:])
        return copy.deepcopy(walk(self.context, segments))

    def interpolate(self, raw: Any) -> Any:
        """A ``simple`` value: one whole ``${path}`` keeps its type; ``${}`` inside text is spliced as text."""
        if not isinstance(raw, str):
            return raw
        whole = _VAR.fullmatch(raw.strip())
        if whole:
            return self.path(whole.group(1))
        if "${" not in raw:
            return raw
        return _VAR.sub(lambda m: to_text(self.path(m.group(1))), raw)

    # --- value specs ----------------------------------------------------------------------------

    def value(self, spec: Any) -> Any:
        """``{simple: ...}`` | ``{complex: {...}}`` | ``{}`` (no value) -> the argument value."""
        if spec is None:
            return None
        if not isinstance(spec, Mapping):
            raise Unsupported(f"argument form {type(spec).__name__} ({spec!r})")
        keys = set(spec) - {"iscontext"}
        if not keys:
            return None
        if keys == {"simple"}:
            return self.interpolate(spec["simple"])
        if keys == {"complex"}:
            return self.complex(spec["complex"])
        raise Unsupported(f"argument form with keys {sorted(keys)}")

    def operand(self, operand: Any, item: Any = None, root: str | None = None) -> Any:
        """A condition side ``{value: {simple|complex}, iscontext: bool}``.

        With ``iscontext`` a simple value is a context path; inside a complex filter, a path that starts with
        the complex root is read from the element being filtered (``IP.Malicious`` while filtering ``IP``).
        """
        if operand is None:
            return None
        check_operand_form(operand)
        spec = operand.get("value")
        if spec is None or spec == {}:
            return None
        if not isinstance(spec, Mapping):
            raise Unsupported(f"condition operand value {spec!r}")
        if "simple" in spec and operand.get("iscontext"):
            raw = spec["simple"]
            if not isinstance(raw, str):
                return raw
            path = strip_var(raw)
            if root is not None:
                if path == root:
                    return copy.deepcopy(item)
                if path.startswith(root + "."):
                    return copy.deepcopy(walk(item, split_path(path[len(root) + 1 :])))
            return self.path(path)
        return self.value(spec)

    def complex(self, spec: Any) -> Any:
        """root -> filters (on the root's elements) -> accessor -> transformers, in the server's order."""
        if not isinstance(spec, Mapping):
            raise Unsupported(f"complex value form {spec!r}")
        extra = set(spec) - _COMPLEX_KEYS
        if extra:
            raise Unsupported(f"complex value keys {sorted(extra)}")
        root = str(spec.get("root") or "")
        value = self.path(root) if root else None
        filters = spec.get("filters") or []
        if filters:
            items = value if isinstance(value, list) else ([] if value is None else [value])
            kept = [it for it in items if self.conditions_hold(filters, item=it, root=strip_var(root))]
            if isinstance(value, list):
                value = kept or None
            else:
                value = kept[0] if kept else None
        accessor = spec.get("accessor")
        if accessor:
            value = walk(value, split_path(str(accessor)))
        for transformer in spec.get("transformers") or []:
            value = self.transform(transformer, value)
        return value

    def transform(self, transformer: Any, value: Any) -> Any:
        if not isinstance(transformer, Mapping) or "operator" not in transformer:
            raise Unsupported(f"transformer form {transformer!r}")
        name = str(transformer["operator"])
        fn = TRANSFORMERS.get(name)
        if fn is None:
            raise Unsupported(f"transformer {name!r}")
        args: dict[str, Any] = {}
        for arg_name, arg_spec in (transformer.get("args") or {}).items():
            args[arg_name] = self.operand(arg_spec) if isinstance(arg_spec, Mapping) else arg_spec
        return fn(value, args)

    # --- conditions -----------------------------------------------------------------------------

    def condition_holds(self, cond: Any, item: Any = None, root: str | None = None) -> bool:
        if not isinstance(cond, Mapping) or "operator" not in cond:
            raise Unsupported(f"condition form {cond!r}")
        name = str(cond["operator"])
        op = OPERATORS.get(name)
        if op is None:
            raise Unsupported(f"condition operator {name!r}")
        left = self.operand(cond.get("left"), item, root)
        right = self.operand(cond.get("right"), item, root) if name not in UNARY_OPERATORS else None
        return op(left, right, bool(cond.get("ignorecase")))

    def conditions_hold(self, groups: Any, item: Any = None, root: str | None = None) -> bool:
        """``[[a, b], [c]]`` means (a OR b) AND c – the outer list ANDs, each inner list ORs."""
        if not isinstance(groups, list):
            raise Unsupported(f"condition list form {groups!r}")
        for group in groups:
            alternatives = group if isinstance(group, list) else [group]
            if not any(self.condition_holds(c, item, root) for c in alternatives):
                return False
        return True
