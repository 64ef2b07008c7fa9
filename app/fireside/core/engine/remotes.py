"""Named remote connections, and opening a RemoteEngine from a name or a URL under the rules.

A connection is a name, a base URL, a default model and optionally a CA bundle, kept in
`remotes.json` in the config folder (atomic writes). Its API key is kept ONLY in the OS keyring
(service "Fireside", user `remote-api-key:NAME`, see secrets.py); `OPENAI_API_KEY` is the
ecosystem's fallback. Offline mode (the user's setting or the `offline_only` policy) turns remote
engines off, and the `allowed_remote_endpoints` policy lists the endpoints allowed.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fireside.core.admin.policy import Policy
from fireside.core.config.paths import Paths
from fireside.core.config.secrets import TokenStore, remote_key_user
from fireside.core.engine.protocol import EngineError
from fireside.core.engine.remote_engine import Endpoint, RemoteEngine

FILE_NAME = "remotes.json"
ENV_KEY = "OPENAI_API_KEY"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class RemoteInputError(ValueError):
    """Input we can name the problem with (an unknown name, a malformed URL): exit 2 in the CLI."""


class RemoteRefused(EngineError):
    """Offline mode or the organisation's policy does not allow this endpoint."""


@dataclass(frozen=True)
class Connection:
    name: str
    base_url: str
    model: str = ""  # the model used when none is named
    ca_bundle: str = ""


def normalise_url(text: str) -> str:
    """An http(s) base URL without a trailing slash; a bare host gets the usual `/v1`."""
    url = text.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise RemoteInputError(f"“{text}” is not an http:// or https:// address.")
    if not parts.path:
        url += "/v1"
    return url


def check_name(name: str) -> str:
    name = name.strip()
    if not _NAME.match(name):
        raise RemoteInputError(f"“{name}” cannot name a connection: use letters, digits, '.', '_' "
                               "or '-' (at most 64), starting with a letter or digit.")
    return name


class Remotes:
    """The saved connections of one user (a small JSON file in the config folder)."""

    def __init__(self, config_dir: Path) -> None:
        self.path = config_dir / FILE_NAME

    def all(self) -> list[Connection]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as e:
            raise EngineError(f"The remote connections file {self.path} could not be read ({e}). "
                              "Fix or delete it.") from None
        out = []
        for item in data.get("remotes", []) if isinstance(data, dict) else []:
            if isinstance(item, dict) and isinstance(item.get("name"), str) and isinstance(
                    item.get("base_url"), str):
                out.append(Connection(item["name"], item["base_url"], str(item.get("model", "")),
                                      str(item.get("ca_bundle", ""))))
        return out

    def get(self, name: str) -> Connection | None:
        return next((c for c in self.all() if c.name == name), None)

    def put(self, connection: Connection) -> None:
        rest = [c for c in self.all() if c.name != connection.name]
        self._write([*rest, connection])

    def remove(self, name: str) -> bool:
        items = self.all()
        rest = [c for c in items if c.name != name]
        if len(rest) == len(items):
            return False
        self._write(rest)
        return True

    def _write(self, items: list[Connection]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"remotes": [asdict(c) for c in items]}, indent=2) + "\n"
        fd, tmp = tempfile.mkstemp(prefix=".remotes-", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def key_store(name: str, policy: Policy, backend: Any | None = None) -> TokenStore:
    """The keyring entry of connection `name` (the policy may keep keys out of the keyring)."""
    return TokenStore(backend, keyring_allowed=policy.get("allow_keyring_tokens") is not False,
                      user=remote_key_user(name))


def refusal(base_url: str, paths: Paths, policy: Policy) -> str:
    """Why a remote engine at `base_url` may not be used now, or ""."""
    if why := policy.remote_refusal(base_url):
        return why
    from fireside.core.config.settings import effective_settings, load_settings

    if effective_settings(load_settings(paths.settings_file), policy).offline:
        return ("Offline mode is on, so remote engines are off. Turn offline mode off (Load "
                "settings ▸ Advanced) to use one.")
    return ""


def resolve(url_or_name: str, paths: Paths, policy: Policy, *, env: Mapping[str, str] | None = None,
            keyring_backend: Any | None = None) -> Endpoint:
    """The endpoint for a saved connection's name or a URL, with its key, after the checks.

    Raises RemoteInputError (unknown name, bad URL) or RemoteRefused (offline, policy).
    """
    env = os.environ if env is None else env
    text = url_or_name.strip()
    remotes = Remotes(paths.config)
    if "://" in text:
        base = normalise_url(text)
        conn = next((c for c in remotes.all() if c.base_url == base), None)
    else:
        conn = remotes.get(text)
        if conn is None:
            known = ", ".join(c.name for c in remotes.all()) or "none yet"
            raise RemoteInputError(f"There is no remote connection named “{text}” (saved: {known}). "
                                   "Add it with `fireside remotes add NAME URL`, or give a URL.")
        base = conn.base_url
    if why := refusal(base, paths, policy):
        raise RemoteRefused(why)
    key = ""
    if conn is not None:
        key = key_store(conn.name, policy, keyring_backend).get() or ""
    key = key or env.get(ENV_KEY, "").strip()
    return Endpoint(base_url=base, api_key=key, name=conn.name if conn else "",
                    ca_bundle=conn.ca_bundle if conn else "")


def default_model(url_or_name: str, paths: Paths) -> str:
    conn = Remotes(paths.config).get(url_or_name.strip())
    return conn.model if conn else ""


def open_remote(url_or_name: str, model: str, paths: Paths, policy: Policy, *,
                env: Mapping[str, str] | None = None,
                keyring_backend: Any | None = None) -> RemoteEngine:
    """A RemoteEngine with `model` loaded (or the connection's default model, or the endpoint's
    only one), ready to `stream`. What `fireside chat --remote` and the window call.

    Raises RemoteInputError (exit 2: unknown name, bad URL), RemoteRefused (offline or policy), or
    ModelLoadError/EngineError (unreachable, 401, model not offered), each with one clear sentence.
    """
    endpoint = resolve(url_or_name, paths, policy, env=env, keyring_backend=keyring_backend)
    engine = RemoteEngine(endpoint)
    try:
        engine.load(model.strip() or default_model(url_or_name, paths))
    except EngineError:
        engine.close()
        raise
    return engine
