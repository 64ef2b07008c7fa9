"""What the Hugging Face Hub says about a file: commit, size and the SHA-256 we verify against.

We use huggingface_hub for what it does well (the Hub API, auth headers, endpoint handling, error
types) and own the byte transfer in downloads.py, because huggingface_hub 2.x deletes its
`.incomplete` file on failure and cannot resume across processes.

Nothing here runs unless the user asks for a download or a repo listing: offline is the default.
The token is passed explicitly (from secrets.py); we pass `token=False` when there is none, so
huggingface_hub never reads a plaintext token file behind the user's back.

Its HTTP client is built by us (`set_client_factory`) on the SSL context of core/net/tls.py, so
the catalog and the byte transfer trust exactly the same certificates: never "the listing works,
then every download fails its certificate check".
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from fireside.core.net.tls import (
    TrustSource,
    TrustStoreError,
    describe_failure,
    find_cert_error,
    ssl_context,
    trust_source,
)

if TYPE_CHECKING:
    from huggingface_hub import HfApi

DEFAULT_ENDPOINT = "https://huggingface.co"
API_TIMEOUT_S = 20.0


class HubError(Exception):
    """A Hub problem in words a person can act on. `kind` lets the UI offer the right next step."""

    def __init__(self, message: str, kind: str = "network") -> None:
        super().__init__(message)
        self.kind = kind  # "auth", "not_found", "network", "tls"


@dataclass(frozen=True)
class RemoteFile:
    """One file pinned to one commit, so a download resumed days later fetches the same bytes."""

    repo_id: str
    filename: str
    revision: str  # the commit hash, never a branch name
    size: int
    sha256: str  # from the LFS pointer; empty when the Hub publishes none (small non-LFS files)
    endpoint: str

    @property
    def url(self) -> str:
        return (f"{self.endpoint.rstrip('/')}/{self.repo_id}/resolve/{self.revision}/"
                f"{quote(self.filename)}")


def endpoint_from_env() -> str:
    """HF_ENDPOINT lets admins point at a mirror and tests at 127.0.0.1; a policy's wins."""
    from fireside.core.admin.policy import load_policy

    return (load_policy().get("hf_endpoint") or os.environ.get("HF_ENDPOINT")
            or DEFAULT_ENDPOINT).rstrip("/")


def valid_repo_id(repo_id: str) -> bool:
    parts = repo_id.split("/")
    return len(parts) == 2 and all(p and p not in {".", ".."} and " " not in p for p in parts)


_client_lock = threading.Lock()
_client_trust: TrustSource | None = None


def use_fireside_trust() -> None:
    """Make huggingface_hub's shared client verify with our context; again if the source changed."""
    global _client_trust
    source = trust_source()
    with _client_lock:
        if source == _client_trust:
            return
        try:
            ctx = ssl_context()
        except TrustStoreError as e:
            raise HubError(str(e), "tls") from None
        import httpx2
        from huggingface_hub import set_client_factory
        from huggingface_hub.utils._http import hf_request_event_hook

        def factory() -> httpx2.Client:  # huggingface_hub's default_client_factory, plus verify
            return httpx2.Client(event_hooks={"request": [hf_request_event_hook]},
                                 follow_redirects=True, timeout=None, verify=ctx)

        set_client_factory(factory)
        _client_trust = source


def _api(endpoint: str, token: str | None) -> HfApi:
    from huggingface_hub import HfApi

    use_fireside_trust()
    return HfApi(endpoint=endpoint, token=token or False)


def _translate(e: Exception, repo_id: str, token: str | None, endpoint: str = "") -> HubError:
    """Map huggingface_hub and socket errors to one sentence; never echo headers or tokens."""
    if isinstance(e, HubError):
        return e
    if (cert := find_cert_error(e)) is not None:
        return HubError(describe_failure(cert, urlsplit(endpoint).netloc or "the Hub"), "tls")
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    status = getattr(getattr(e, "response", None), "status_code", None)
    if isinstance(e, GatedRepoError):
        return HubError(f"{repo_id} is gated: accept its licence on the Hub, then use a token "
                        "from the same account.", "auth")
    if isinstance(e, RepositoryNotFoundError) or status in (401, 403):
        if status in (401, 403) and token is None:
            return HubError(f"{repo_id} needs a Hugging Face token (it is private or gated), "
                            "or the repo id is misspelled.", "auth")
        if status in (401, 403):
            return HubError(f"The Hub refused your token for {repo_id}. Check that it is valid "
                            "and has read access.", "auth")
        return HubError(f"There is no repo called {repo_id} on the Hub.", "not_found")
    if isinstance(e, RevisionNotFoundError | EntryNotFoundError):
        return HubError(f"That file or revision does not exist in {repo_id}.", "not_found")
    if isinstance(e, HfHubHTTPError):
        return HubError(f"The Hub answered with an error ({status or 'unknown'}). "
                        "Try again in a minute.")
    return HubError("Could not reach the Hugging Face Hub. Check your connection and try again.")


def _repo_files(repo_id: str, endpoint: str | None, token: str | None,
                revision: str | None) -> list[RemoteFile]:
    """Every file of a repo, pinned to one commit, with LFS size and SHA-256 where published."""
    if not valid_repo_id(repo_id):
        raise HubError(f"{repo_id!r} is not a repo id; it looks like owner/name.", "not_found")
    ep = (endpoint or endpoint_from_env()).rstrip("/")
    try:
        info = _api(ep, token).model_info(repo_id, revision=revision, files_metadata=True,
                                          timeout=API_TIMEOUT_S)
    except Exception as e:  # every failure becomes one sentence for the user
        raise _translate(e, repo_id, token, ep) from None
    commit = info.sha or revision or "main"
    return [
        RemoteFile(repo_id, s.rfilename, commit, int(s.lfs.size if s.lfs else (s.size or 0)),
                   s.lfs.sha256 if s.lfs else "", ep)
        for s in info.siblings or []
    ]


def list_gguf_files(repo_id: str, *, endpoint: str | None = None, token: str | None = None,
                    revision: str | None = None) -> list[RemoteFile]:
    """Every .gguf in a repo with size and SHA-256, for "enter any repo id and pick a file"."""
    files = _repo_files(repo_id, endpoint, token, revision)
    return [f for f in files if f.filename.lower().endswith(".gguf")]


def remote_file(repo_id: str, filename: str, *, endpoint: str | None = None,
                token: str | None = None, revision: str | None = None) -> RemoteFile:
    """Look one file up; raise HubError (not_found) when the repo has no such file."""
    files = _repo_files(repo_id, endpoint, token, revision)
    for f in files:
        if f.filename == filename:
            return f
    names = [f.filename for f in files if f.filename.endswith(".gguf")]
    hint = f" It has: {', '.join(names[:6])}." if names else ""
    raise HubError(f"{repo_id} has no file called {filename}.{hint}", "not_found")
