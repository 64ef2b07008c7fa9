"""The `# Tools` sections of a harmony prompt: function tools as TypeScript, and the python tool.

A line-for-line port of `json_schema_to_typescript` and `template_tools_section` in the
`openai/harmony` library (src/encoding.rs, v0.0.8, Apache-2.0), because gpt-oss was trained on
exactly that text: its quirks (which defaults are quoted, where descriptions go for `oneOf`) are
kept on purpose. Schemas are read in their own key order, as the library does (serde_json with
`preserve_order`). Plain text in, plain text out: the caller neutralises token-shaped text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fireside.core.chat.conversation import FunctionTool

FUNCTIONS_CHANNEL_NOTE = "Calls to these tools must go to the commentary channel: 'functions'."
PYTHON_TIMEOUT_S = 120.0

# harmony's own python tool text, with the environment described as Fireside's sandbox is.
_PYTHON_DESCRIPTION = (
    "Use this tool to execute Python code in your chain of thought. The code will not be shown to "
    "the user as part of your answer (the user may review it before it runs). This tool should be "
    "used for internal reasoning, but not for code that is intended to be visible to the user "
    "(e.g. when creating plots, tables, or files).\n\n"
    "When you send a message containing Python code to python, it will be executed in a stateful "
    "Jupyter notebook environment: variables, imports and files persist between calls within this "
    "conversation. python will respond with the output of the execution or time out after "
    "{timeout} seconds. Files can be read and written only in the current working directory, this "
    "conversation's work folder. Internet access for this session is disabled."
)


@dataclass(frozen=True)
class Namespace:
    """A tool namespace as harmony renders it: `## name`, an optional description, its tools."""

    name: str
    description: str = ""
    tools: tuple[FunctionTool, ...] = ()


def python_namespace(timeout_s: float = PYTHON_TIMEOUT_S) -> Namespace:
    """The built-in python tool, described truthfully (harmony writes "120.0 seconds")."""
    return Namespace("python", _PYTHON_DESCRIPTION.format(timeout=float(timeout_s)))


def tools_section(namespaces: Sequence[Namespace]) -> str:
    """`# Tools` and each namespace, sorted by name as harmony's BTreeMap sorts them."""
    sections = ["# Tools"]
    for ns in sorted(namespaces, key=lambda n: n.name):
        content = [f"## {ns.name}\n"]
        for line in _lines(ns.description):
            content.append(f"// {line}" if ns.tools else line)
        if ns.tools:
            content.append(f"namespace {ns.name} {{\n")
            for tool in ns.tools:
                content.extend(f"// {line}" for line in _lines(tool.description))
                params = _parameters(tool.parameters)
                if params is None:
                    content.append(f"type {tool.name} = () => any;\n")
                else:
                    ts = json_schema_to_typescript(params, "")
                    content.append(f"type {tool.name} = (_: {ts}) => any;\n")
            content.append(f"}} // namespace {ns.name}")
        sections.append("\n".join(content))
    return "\n\n".join(sections)


def _parameters(schema: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """None (harmony's `() => any`) for a function that takes nothing.

    harmony marks that with no schema at all; MCP servers and OpenAI clients send `{}` or an
    object schema without properties instead, so those are read as "no parameters" too.
    """
    if not schema:
        return None
    if schema.get("type") == "object" and not schema.get("properties") and "oneOf" not in schema:
        return None
    return schema


def _lines(text: str) -> list[str]:
    """Rust's `str::lines`: split on `\\n`, drop one trailing empty line, strip a trailing `\\r`."""
    if not text:
        return []
    parts = text.split("\n")
    if parts[-1] == "":
        parts.pop()
    return [p.removesuffix("\r") for p in parts]


def _json(value: object) -> str:
    """serde_json's compact Display."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _get(schema: object, key: str) -> object:
    """serde_json's `Value::get`: None for a missing key or a schema that is not an object."""
    return schema.get(key) if isinstance(schema, Mapping) else None


def _has(schema: object, key: str) -> bool:
    return isinstance(schema, Mapping) and key in schema


def _is_enum(schema: object) -> bool:
    values = _get(schema, "enum")
    return isinstance(values, list) and bool(values)


def _nullable(schema: object) -> bool:
    return _get(schema, "nullable") is True


def _default_comment(schema: object, quote_enum_string: bool) -> str | None:
    """`default: …` as harmony writes it: a string is quoted unless it is an enum's value, which
    is bare in a property's comments (`quote_enum_string` False) and JSON-quoted in a top-level
    `oneOf` variant (True). Anything else is compact JSON."""
    if not _has(schema, "default"):
        return None
    default = _get(schema, "default")
    if isinstance(default, str) and not _is_enum(schema):
        return f'default: "{default}"'
    if isinstance(default, str) and not quote_enum_string:
        return f"default: {default}"
    return f"default: {_json(default)}"


def _with_null(type_str: str, schema: object) -> str:
    return f"{type_str} | null" if _nullable(schema) and "null" not in type_str else type_str


def json_schema_to_typescript(schema: object, indent: str) -> str:
    """harmony's TypeScript-like rendering of a JSON Schema (see the module doc)."""
    one_of = _get(schema, "oneOf")
    if isinstance(one_of, list):
        out = []
        for variant in one_of:
            out.append(f"\n{indent} | ")
            out.append(_with_null(json_schema_to_typescript(variant, indent + "   "), variant))
            trailing = []
            description = _get(variant, "description")
            if isinstance(description, str):
                trailing.append(description)
            default = _default_comment(variant, quote_enum_string=True)
            if default is not None:
                trailing.append(default)
            if trailing:
                out.append(" // " + " ".join(trailing))
        return "".join(out)
    types = _get(schema, "type")
    if isinstance(types, list):
        names = ["number" if t == "integer" else t for t in types if isinstance(t, str)]
        if names:
            return " | ".join(names)
    if isinstance(types, str):
        if types == "object":
            return _object(schema, indent)
        if types == "string":
            values = _get(schema, "enum")
            if isinstance(values, list):
                quoted = [f'"{v}"' for v in values if isinstance(v, str)]
                if quoted:
                    return " | ".join(quoted)
            return "string"
        if types in ("number", "integer"):
            return "number"
        if types == "boolean":
            return "boolean"
        if types == "array":
            if _has(schema, "items"):
                return json_schema_to_typescript(_get(schema, "items"), indent) + "[]"
            return "Array<any>"
    return "any"


def _object(schema: object, indent: str) -> str:
    out = []
    description = _get(schema, "description")
    if isinstance(description, str):
        out.append(f"{indent}// {description}\n")
    out.append("{\n")
    props = _get(schema, "properties")
    if isinstance(props, Mapping):
        required_list = _get(schema, "required")
        required = (
            {r for r in required_list if isinstance(r, str)} if isinstance(required_list, list) else set()
        )
        for key, val in props.items():
            out.append(_property(str(key), val, key in required, indent))
    out.append(f"{indent}}}")
    return "".join(out)


def _property(key: str, val: object, required: bool, indent: str) -> str:
    out = []
    mark = "" if required else "?"
    title = _get(val, "title")
    if isinstance(title, str):
        out.append(f"{indent}// {title}\n{indent}//\n")
    description = _get(val, "description")
    if not _has(val, "oneOf") and isinstance(description, str):
        out.append(f"{indent}// {description}\n")
    examples = _get(val, "examples")
    if isinstance(examples, list) and examples:
        out.append(f"{indent}// Examples:\n")
        out.extend(f'{indent}// - "{ex}"\n' for ex in examples if isinstance(ex, str))
    one_of = _get(val, "oneOf")
    if isinstance(one_of, list):
        prop_desc = description if isinstance(description, str) else None
        first_desc = _get(one_of[0], "description") if one_of else None
        above = prop_desc is not None and not (isinstance(first_desc, str) and first_desc == prop_desc)
        if above:
            out.append(f"{indent}// {prop_desc}\n")
        default = _default_comment(val, quote_enum_string=False)
        if default is not None:
            out.append(f"{indent}// {default}\n")
        out.append(f"{indent}{key}{mark}:\n")
        for i, variant in enumerate(one_of):
            out.append(f"{indent} | ")
            out.append(_with_null(json_schema_to_typescript(variant, indent + "   "), variant))
            trailing = []
            variant_desc = _get(variant, "description")
            if not (i == 0 and above) and isinstance(variant_desc, str) and variant_desc != prop_desc:
                trailing.append(variant_desc)
            variant_default = _default_comment(variant, quote_enum_string=False)
            if variant_default is not None:
                trailing.append(variant_default)
            if trailing:
                out.append(" // " + " ".join(trailing))
            out.append("\n")
        out.append(f"{indent},\n")
        return "".join(out)
    out.append(f"{indent}{key}{mark}: ")
    out.append(_with_null(json_schema_to_typescript(val, indent + "    "), val))
    out.append(",")
    if not _has(val, "oneOf"):
        default = _default_comment(val, quote_enum_string=False)
        if default is not None:
            out.append(f" // {default}")
    out.append("\n")
    return "".join(out)
