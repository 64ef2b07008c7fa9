"""Machine-wide admin policy: what an organisation locks, read from the platform's managed places.

Sources, first one that sets a key wins:
- Linux: /etc/fireside/policy.json
- Windows: HKLM\\Software\\Policies\\Fireside (registry), then %ProgramData%\\Fireside\\policy.json
- macOS: /Library/Managed Preferences/com.fireside.Fireside.plist (MDM), then
  /Library/Application Support/Fireside/policy.json
- FIRESIDE_POLICY_FILE, last: it can add keys the machine leaves open, never override one.

A key absent from every source is not locked. A source that cannot be read, or a value that does
not fit the schema, is reported as a problem and that key falls back to its MOST restrictive
reading (downloads off, offline only, low effort only, a small context, no keyring), never to the
most permissive one: a broken policy must not unlock what a working one would have locked.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EFFORTS = ("low", "medium", "high")
RESTRICTIVE_MAX_CONTEXT = 2048
MIN_CONTEXT = 64
MANAGED = "Managed by your organisation"
ENV_FILE = "FIRESIDE_POLICY_FILE"


class _Invalid(Exception):
    """A value that does not fit its key; the message says what was expected."""


def _bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, int) and v in (0, 1):  # the Windows registry has no booleans, only DWORDs
        return bool(v)
    raise _Invalid("expected true or false")


def _str(v: Any) -> str:
    if isinstance(v, str) and v.strip():
        return v.strip()
    raise _Invalid("expected a non-empty text value")


def _url(v: Any) -> str:
    s = _str(v)
    if not s.startswith(("https://", "http://")):
        raise _Invalid("expected an http:// or https:// address")
    return s.rstrip("/")


def _str_list(v: Any) -> tuple[str, ...]:
    if isinstance(v, str):  # a registry REG_MULTI_SZ arrives as a list; a REG_SZ may hold one item
        v = [v]
    if isinstance(v, list | tuple) and all(isinstance(x, str) and x.strip() for x in v):
        return tuple(x.strip() for x in v)
    raise _Invalid("expected a list of text values")


def _effort(v: Any) -> str:
    if isinstance(v, str) and v.strip().lower() in EFFORTS:
        return v.strip().lower()
    raise _Invalid("expected one of low, medium, high")


def _efforts(v: Any) -> tuple[str, ...]:
    items = _str_list(v)
    if not items:
        raise _Invalid("expected at least one of low, medium, high")
    out = tuple(_effort(x) for x in items)
    return tuple(e for e in EFFORTS if e in out)


def _context(v: Any) -> int:
    if isinstance(v, int) and not isinstance(v, bool) and v >= MIN_CONTEXT:
        return v
    raise _Invalid(f"expected a whole number of tokens, at least {MIN_CONTEXT}")


def _models(v: Any) -> tuple[dict[str, str], ...]:
    if isinstance(v, str):  # the registry cannot hold a list of objects: JSON text is accepted
        try:
            v = json.loads(v)
        except (ValueError, RecursionError):
            raise _Invalid("expected a list of {repo, file, sha256} (JSON text in the registry)") from None
    if not isinstance(v, list):
        raise _Invalid("expected a list of {repo, file, sha256}")
    out = []
    for item in v:
        if not (isinstance(item, dict) and isinstance(item.get("repo"), str)
                and isinstance(item.get("file"), str)):
            raise _Invalid("each allowed model needs a repo and a file")
        out.append({"repo": item["repo"], "file": item["file"], "sha256": _sha(item)})
    return tuple(out)


def _sha(item: dict[str, Any]) -> str:
    sha = item.get("sha256", "")
    if not isinstance(sha, str) or (sha and (len(sha) != 64 or
                                             any(c not in "0123456789abcdefABCDEF" for c in sha))):
        raise _Invalid("sha256 must be 64 hexadecimal characters")
    return sha.lower()


def _adapters(v: Any) -> tuple[dict[str, str], ...]:
    """LoRA adapter files by name ("legal.gguf"), each optionally pinned to a SHA-256."""
    if isinstance(v, str):  # JSON text (the registry), or a single name
        try:
            v = json.loads(v) if v.lstrip().startswith("[") else [v]
        except ValueError:
            raise _Invalid("expected a list of adapter file names or {file, sha256} "
                           "(JSON text in the registry)") from None
    if not isinstance(v, list):
        raise _Invalid("expected a list of adapter file names or {file, sha256}")
    out = []
    for item in v:
        if isinstance(item, str) and item.strip():
            item = {"file": item}
        if not (isinstance(item, dict) and isinstance(item.get("file"), str) and item["file"].strip()):
            raise _Invalid("each allowed adapter needs a file name")
        out.append({"file": item["file"].strip(), "sha256": _sha(item)})
    return tuple(out)


MCP_MODES = ("off", "listed", "any")


def _mcp_mode(v: Any) -> str:
    if isinstance(v, str) and v.strip().lower() in MCP_MODES:
        return v.strip().lower()
    raise _Invalid("expected one of off, listed, any")
ANY_ENDPOINT = "*"


def _endpoints(v: Any) -> tuple[str, ...]:
    """none / listed base URLs / any: "none" or [] allows none, "any" or ["*"] allows every one."""
    if isinstance(v, str) and v.strip().lower() in ("any", ANY_ENDPOINT):
        return (ANY_ENDPOINT,)
    if isinstance(v, str) and v.strip().lower() == "none":
        return ()
    try:
        items = _str_list(v)
    except _Invalid:
        raise _Invalid('expected "none", "any" or a list of http(s):// base URLs') from None
    if ANY_ENDPOINT in items:
        return (ANY_ENDPOINT,)
    return tuple(_url(x).lower() for x in items)


def endpoint_allowed(base_url: str, allowed: tuple[str, ...]) -> bool:
    """Whether `base_url` is one of `allowed` (or below one: https://h/v1 is below https://h)."""
    if ANY_ENDPOINT in allowed:
        return True
    url = base_url.strip().rstrip("/").lower()
    return any(url == a or url.startswith(a + "/") for a in allowed)


def _update_checks(v: Any) -> bool:
    if _bool(v):
        raise _Invalid("Fireside never checks for updates; this key can only be false")
    return False


@dataclass(frozen=True)
class _Key:
    parse: Callable[[Any], Any]
    restrictive: Any
    what: str


SCHEMA: dict[str, _Key] = {
    "allow_model_downloads": _Key(_bool, False, "whether users may download models"),
    "allowed_models": _Key(_models, (), "the only models users may download"),
    "allowed_adapters": _Key(_adapters, (), "the only LoRA adapters users may apply"),
    "hf_endpoint": _Key(_url, "", "Hugging Face address (an internal mirror)"),
    "offline_only": _Key(_bool, True, "Fireside makes no network connections"),
    "shared_model_dirs": _Key(_str_list, (), "read-only model folders shared by all users"),
    "user_model_dir": _Key(_str, "", "where users' own models are kept"),
    "default_model": _Key(_str, "", "the model opened by default"),
    "default_effort": _Key(_effort, "low", "the reasoning effort used by default"),
    "allowed_efforts": _Key(_efforts, ("low",), "the reasoning efforts users may choose"),
    "max_context": _Key(_context, RESTRICTIVE_MAX_CONTEXT, "the largest context, in tokens"),
    "allow_keyring_tokens": _Key(_bool, False, "whether tokens may be saved in the keyring"),
    "update_checks": _Key(_update_checks, False, "update checks (always off)"),
    "local_api_server_allowed": _Key(_bool, False, "whether the local API server may run"),
    "local_api_server_remote_allowed": _Key(
        _bool, False, "whether the local API server may listen beyond this computer (loopback)"),
    "tools_allowed": _Key(_bool, False, "whether the model may use tools at all"),
    "python_tool_allowed": _Key(_bool, False, "whether the built-in python tool may run"),
    "mcp_servers": _Key(_mcp_mode, "off", "which MCP servers may run: off, listed or any"),
    "allowed_mcp_servers": _Key(_str_list, (), "the MCP servers allowed when mcp_servers is listed"),
    "tool_auto_approval_allowed": _Key(_bool, False, "whether a tool may be always allowed"),
    "allowed_remote_endpoints": _Key(_endpoints, (), "the OpenAI-compatible endpoints users may "
                                                     "use as remote engines (none, listed, any)"),
}


@dataclass(frozen=True)
class PolicyValue:
    value: Any
    source: str  # a file path or registry key, with "(fallback: …)" when the value was unusable
    valid: bool = True


@dataclass(frozen=True)
class Problem:
    source: str
    key: str  # "" when the whole source is unusable
    message: str

    def __str__(self) -> str:
        where = f"{self.source}, key {self.key!r}" if self.key else self.source
        return f"Policy problem in {where}: {self.message}"


@dataclass(frozen=True)
class Policy:
    values: dict[str, PolicyValue] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()
    sources: tuple[str, ...] = ()  # every place that was looked at

    def get(self, key: str, default: Any = None) -> Any:
        v = self.values.get(key)
        return default if v is None else v.value

    def locked(self, key: str) -> bool:
        return key in self.values

    def why(self, key: str) -> str:
        """The sentence to show beside a locked setting (empty when it is not locked)."""
        v = self.values.get(key)
        if v is None:
            return ""
        if not v.valid:
            return f"{MANAGED}: its policy value could not be read, so the safest reading applies."
        return f"{MANAGED} ({v.source})."

    # -- the questions the rest of the app asks -------------------------------------------------
    def download_refusal(self) -> str:
        """Why downloads are not allowed, or "" when they are."""
        if self.get("offline_only") is True:
            return ("Downloads are turned off by your organisation's policy "
                    f"(offline_only, {self._src('offline_only')}).")
        if self.get("allow_model_downloads") is False:
            return ("Downloads are turned off by your organisation's policy "
                    f"(allow_model_downloads, {self._src('allow_model_downloads')}).")
        v = self.values.get("hf_endpoint")
        if v is not None and not v.valid:
            return ("Downloads are turned off because the policy's hf_endpoint could not be read "
                    f"({self._src('hf_endpoint')}).")
        return ""

    def remote_refusal(self, base_url: str) -> str:
        """Why a remote engine at `base_url` may not be used, or "" when it may."""
        if self.get("offline_only") is True:
            return ("Remote engines are turned off by your organisation's policy "
                    f"(offline_only, {self._src('offline_only')}).")
        allowed = self.get("allowed_remote_endpoints")
        if allowed is None or endpoint_allowed(base_url, allowed):
            return ""
        if not allowed:
            return ("Remote engines are turned off by your organisation's policy "
                    f"(allowed_remote_endpoints, {self._src('allowed_remote_endpoints')}).")
        return (f"{base_url} is not on your organisation's list of allowed remote endpoints "
                f"(allowed_remote_endpoints, {self._src('allowed_remote_endpoints')}).")

    def model_refusal(self, repo: str, filename: str) -> str:
        allowed = self.get("allowed_models")
        if allowed is None or any(m["repo"] == repo and m["file"] == filename for m in allowed):
            return ""
        return (f"{repo} {filename} is not on your organisation's list of allowed models "
                f"(allowed_models, {self._src('allowed_models')}).")

    def effort_refusal(self, effort: str) -> str:
        allowed = self.get("allowed_efforts")
        if allowed is None or effort in allowed:
            return ""
        return (f"Reasoning effort {effort!r} is not allowed by your organisation's policy "
                f"(allowed_efforts: {', '.join(allowed)}; {self._src('allowed_efforts')}).")

    def api_server_refusal(self, host: str = "127.0.0.1", loopback: bool = True) -> str:
        """Why the local API server may not run (on `host`), or "" when it may."""
        if self.get("local_api_server_allowed") is False:
            return ("The local API server is turned off by your organisation's policy "
                    f"(local_api_server_allowed, {self._src('local_api_server_allowed')}).")
        remote = "local_api_server_remote_allowed"
        if not loopback and self.locked(remote) and self.get(remote) is not True:
            return (f"The local API server may not listen on {host}: your organisation's policy "
                    f"allows this computer only ({remote}, {self._src(remote)}).")
        return ""

    def tools_refusal(self) -> str:
        """Why no tool may run at all, or "" when tools are allowed."""
        if self.get("tools_allowed") is False:
            return ("Tools are turned off by your organisation's policy "
                    f"(tools_allowed, {self._src('tools_allowed')}).")
        return ""

    def python_tool_refusal(self) -> str:
        if refusal := self.tools_refusal():
            return refusal
        if self.get("python_tool_allowed") is False:
            return ("The python tool is turned off by your organisation's policy "
                    f"(python_tool_allowed, {self._src('python_tool_allowed')}).")
        return ""

    def mcp_server_refusal(self, name: str, command: str = "", command_line: str = "",
                           url: str = "") -> str:
        """Why this MCP server may not run, or "".

        With mcp_servers "listed", an entry of allowed_mcp_servers matches the server's name in
        mcp.json, its command, its whole command line, or its URL. A name trusts the user's
        naming; a command or URL pins what actually runs.
        """
        if refusal := self.tools_refusal():
            return refusal
        mode = self.get("mcp_servers", "any")
        if mode == "off":
            return (f"MCP servers are turned off by your organisation's policy "
                    f"(mcp_servers, {self._src('mcp_servers')}).")
        if mode == "listed":
            allowed = self.get("allowed_mcp_servers") or ()
            keys = {k for k in (name, command, command_line, url.rstrip("/")) if k}
            if not any(a.rstrip("/") in keys for a in allowed):
                where = self._src("allowed_mcp_servers") or self._src("mcp_servers")
                return (f"MCP server {name!r} is not on your organisation's list of allowed "
                        f"servers (allowed_mcp_servers, {where}).")
        if url and self.get("offline_only") is True and not _loopback(url):
            return (f"MCP server {name!r} is on the network, and your organisation's policy keeps "
                    f"Fireside offline (offline_only, {self._src('offline_only')}).")
        return ""

    def auto_approval_refusal(self) -> str:
        """Why a tool may not be set to "always allow", or ""."""
        if self.get("tool_auto_approval_allowed") is False:
            return ("Every tool call needs your approval: your organisation's policy does not "
                    "allow tools to run without asking "
                    f"(tool_auto_approval_allowed, {self._src('tool_auto_approval_allowed')}).")
        return ""

    def expected_sha256(self, repo: str, filename: str) -> str:
        for m in self.get("allowed_models") or ():
            if m["repo"] == repo and m["file"] == filename:
                return str(m["sha256"])
        return ""

    def as_json(self) -> dict[str, Any]:
        return {
            "sources_checked": list(self.sources),
            "values": {k: {"value": list(v.value) if isinstance(v.value, tuple) else v.value,
                           "source": v.source, "valid": v.valid}
                       for k, v in sorted(self.values.items())},
            "problems": [{"source": p.source, "key": p.key, "message": p.message}
                         for p in self.problems],
        }

    def _src(self, key: str) -> str:
        v = self.values.get(key)
        return v.source if v else ""


# -- reading -----------------------------------------------------------------------------------
class _Unreadable(Exception):
    pass


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise _Unreadable(f"could not be read ({e.__class__.__name__}: {e})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise _Unreadable(f"is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    except (ValueError, RecursionError):  # a 5,000-digit number; arrays nested 100,000 deep
        raise _Unreadable("is not a policy (its JSON is nested too deeply or holds an impossibly "
                          "long number)") from None
    if not isinstance(data, dict):
        raise _Unreadable("must hold a JSON object of policy keys")
    return data


def _read_plist(path: Path) -> dict[str, Any] | None:
    import plistlib  # macOS only: keep the XML parser out of every other start-up

    try:
        with path.open("rb") as fh:
            data = plistlib.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, plistlib.InvalidFileException, ValueError) as e:
        raise _Unreadable(f"is not a readable property list ({e})") from None
    if not isinstance(data, dict):
        raise _Unreadable("must hold a dictionary of policy keys")
    return {k: v for k, v in data.items() if not k.startswith("PayloadUUID")}


WINDOWS_KEY = r"HKLM\Software\Policies\Fireside"


def _read_registry() -> dict[str, Any] | None:  # pragma: no cover - Windows only
    if sys.platform != "win32":  # winreg exists only there (and mypy checks the rest for Windows)
        return None
    import winreg

    try:
        key = winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, r"Software\Policies\Fireside")
    except OSError:
        return None
    out: dict[str, Any] = {}
    with key:
        i = 0
        while True:
            try:
                name, value, _kind = winreg.EnumValue(key, i)
            except OSError:
                break
            out[name] = value
            i += 1
    return out


Reader = Callable[[], "dict[str, Any] | None"]


def default_sources() -> list[tuple[str, Reader]]:
    """The machine's managed places first, then FIRESIDE_POLICY_FILE.

    The environment file comes last on purpose: any user can set an environment variable, so it
    may add keys the machine policy leaves open (tests, trying a policy out) but can never
    override a key the organisation set.
    """
    machine: list[tuple[str, Reader]]
    if sys.platform == "win32":  # pragma: no cover - Windows only
        program_data = Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData"))
        p = program_data / "Fireside" / "policy.json"
        machine = [(WINDOWS_KEY, _read_registry), (str(p), lambda: _read_json(p))]
    elif sys.platform == "darwin":  # pragma: no cover - macOS only
        mp = Path("/Library/Managed Preferences/com.fireside.Fireside.plist")
        p = Path("/Library/Application Support/Fireside/policy.json")
        machine = [(str(mp), lambda: _read_plist(mp)), (str(p), lambda: _read_json(p))]
    else:
        p = Path("/etc/fireside/policy.json")
        machine = [(str(p), lambda: _read_json(p))]
    env = os.environ.get(ENV_FILE)
    if env:
        e = Path(env)
        machine.append((str(e), lambda: _read_json(e)))
    return machine


def load_policy(sources: Iterable[tuple[str, Reader]] | None = None) -> Policy:
    """Read every source; the first source that sets a key (validly or not) decides it."""
    sources = list(default_sources() if sources is None else sources)
    values: dict[str, PolicyValue] = {}
    problems: list[Problem] = []
    for name, read in sources:
        try:
            data = read()
        except _Unreadable as e:
            problems.append(Problem(name, "", f"this policy {e}. Every setting it could lock is "
                                              "held at its most restrictive value until it is fixed."))
            for key, key_spec in SCHEMA.items():
                values.setdefault(key, PolicyValue(key_spec.restrictive, f"{name} (fallback: unreadable)",
                                                   valid=False))
            continue
        if data is None:
            continue
        for key, raw in data.items():
            spec = SCHEMA.get(key)
            if spec is None:
                problems.append(Problem(name, key, "is not a Fireside policy key, so it has no effect."))
                continue
            if key in values:
                continue
            try:
                values[key] = PolicyValue(spec.parse(raw), name)
            except _Invalid as e:
                problems.append(Problem(name, key, f"{e}; the most restrictive value "
                                                   f"({_show(spec.restrictive)}) applies instead."))
                values[key] = PolicyValue(spec.restrictive, f"{name} (fallback: invalid value)",
                                          valid=False)
    _check_consistency(values, problems)
    return Policy(values, tuple(problems), tuple(n for n, _ in sources))


def _check_consistency(values: dict[str, PolicyValue], problems: list[Problem]) -> None:
    allowed = values.get("allowed_efforts")
    default = values.get("default_effort")
    if allowed and default and default.value not in allowed.value:
        if allowed.valid and default.valid:  # otherwise the bad value is reported already
                problems.append(Problem(default.source, "default_effort",
                                    f"{default.value!r} is not in allowed_efforts; "
                                    f"{allowed.value[0]!r} is used instead."))
        values["default_effort"] = PolicyValue(allowed.value[0], default.source, default.valid)


def _loopback(url: str) -> bool:
    from urllib.parse import urlsplit

    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return False
    return host in ("localhost", "::1") or host.startswith("127.")


def _show(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, tuple):
        return "[" + ", ".join(map(str, v)) + "]"
    return repr(v) if isinstance(v, str) else str(v)
