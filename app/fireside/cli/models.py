"""`fireside models list|pull|import|remove|verify|info`: the model manager from a terminal.

Only `pull` touches the network, and only the Hub at HF_ENDPOINT (default huggingface.co). The
token comes from the OS keyring (or `--token-stdin` for this run only); it is never an argument,
because arguments end up in shell history and process lists.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fireside.core.units import human_bytes

if TYPE_CHECKING:  # the download stack (huggingface_hub, http) loads only for `models` commands
    from fireside.core.models.downloads import Progress


class _Bad(Exception):
    """Bad input: exit 2 with this one line."""


def add_parser(sub: Any) -> None:
    models = sub.add_parser("models", help="list, download, import and check models")
    msub = models.add_subparsers(dest="models_command", required=True, parser_class=type(models))
    ls = msub.add_parser("list", help="installed models (and the catalog with --catalog)")
    ls.add_argument("--catalog", action="store_true", help="show known gpt-oss files and fit")
    ls.add_argument("--json", action="store_true")
    pull = msub.add_parser("pull", help="download REPO FILE or a catalog id, resumably")
    pull.add_argument("what", nargs="+", metavar="ID | REPO FILE")
    pull.add_argument("--token-stdin", action="store_true", help="read a Hub token from stdin")
    pull.add_argument("--adapter", action="store_true", help="REPO FILE is a LoRA adapter")
    imp = msub.add_parser("import", help="add a GGUF that is already on disk")
    imp.add_argument("path")
    imp.add_argument("--copy", action="store_true", help="copy instead of linking in place")
    imp.add_argument("--shared", action="store_true",
                     help="administrators: copy into the folder every user on this computer sees")
    imp.add_argument("--sha256", help="with --shared: the file's expected SHA-256")
    imp.add_argument("--sums", help="with --shared: a SHA256SUMS file that lists the file")
    imp.add_argument("--adapter", action="store_true",
                     help="the file is a LoRA adapter (checked, then kept with your adapters)")
    for name, text in (("remove", "delete an installed model"),
                       ("verify", "re-check a model's header and SHA-256"),
                       ("info", "metadata and fit plan for a model")):
        p = msub.add_parser(name, help=text)
        p.add_argument("model", help="file name, path relative to the models folder, or a path")
        if name == "info":
            p.add_argument("--json", action="store_true")
        if name == "remove":
            p.add_argument("--shared", action="store_true",
                           help="administrators: remove a model from the shared folder")
            p.add_argument("--adapter", action="store_true", help="remove an installed LoRA adapter")


def run(args: argparse.Namespace) -> int:
    from fireside.core.models.installed import ModelError

    models = _context()[0].models
    try:
        handler = {"list": _list, "pull": _pull, "import": _import, "remove": _remove,
                   "verify": _verify, "info": _info}[args.models_command]
        return handler(args, models)
    except _Bad as e:
        print(f"fireside: {e}", file=sys.stderr)
        return 2
    except ModelError as e:
        print(f"fireside: {e}", file=sys.stderr)
        return 1


@functools.cache
def _context() -> tuple[Any, Any, list[Any]]:
    """Paths, policy and model folders, read once per command."""
    from fireside.core.admin.policy import load_policy
    from fireside.core.config.paths import app_paths
    from fireside.core.models.folders import model_dirs

    policy = load_policy()
    paths = app_paths(policy=policy)
    return paths, policy, model_dirs(paths, policy)


def _dirs(models: Path) -> list[Any]:
    return _context()[2]


def _list(args: argparse.Namespace, models: Path) -> int:
    from fireside.core.models.installed import list_all

    dirs = _dirs(models)
    installed = list_all(dirs)
    rows: list[dict[str, Any]] = [{"name": m.name, "path": str(m.path), "size": m.size,
                                   "linked": m.linked, "source": m.source, "shared": m.shared,
                                   "folder": m.folder.origin if m.folder else ""}
                                  for m in installed]
    partial = sorted((models / ".partial").glob("*.json")) if (models / ".partial").is_dir() else []
    catalog: list[dict[str, Any]] = []
    if args.catalog:
        from fireside.core.models.catalog import CATALOG
        from fireside.core.models.fit_planner import GPT_OSS_20B, detect_machine, plan_fit

        machine = detect_machine()
        for e in CATALOG:
            plan = plan_fit(GPT_OSS_20B, machine)
            catalog.append({"id": e.id, "repo_id": e.repo_id, "filename": e.filename,
                            "quantization": e.quantization, "approx_bytes": e.approx_bytes,
                            "context_length": e.context_length, "fit": plan.badge,
                            "confirmed": e.confirmed})
    adapters = _adapter_rows()
    if args.json:
        print(json.dumps({"models_dir": str(models), "installed": rows, "catalog": catalog,
                          "adapters_dir": str(_context()[0].adapters), "adapters": adapters,
                          "partial": [p.stem for p in partial],
                          "search_order": [{"path": str(d.path), "kind": d.kind, "origin": d.origin}
                                           for d in dirs]}))
        return 0
    print(f"Models folder: {models}")
    for d in dirs:
        if d.kind != "user" and d.path.is_dir():
            print(f"Also looking in: {d.path} ({d.origin})")
    if not rows:
        print("No models installed yet. Try: fireside models pull gpt-oss-20b")
    for r in rows:
        origin = r["source"].get("repo_id") or ("linked" if r["linked"] else "imported")
        if r["shared"]:
            origin = f"{origin}, {r['folder']} (read-only)"
        print(f"  {r['name']:<40} {human_bytes(r['size']):>9}  {origin}")
    for p in partial:
        print(f"  (paused download: {p.stem}; `fireside models pull` resumes it)")
    if adapters:
        print(f"LoRA adapters ({_context()[0].adapters}):")
    for a in adapters:
        if a["problem"]:
            print(f"  {a['name']:<40} {human_bytes(a['size']):>9}  unusable: {a['problem']}")
        else:
            print(f"  {a['name']:<40} {human_bytes(a['size']):>9}  for {a['architecture']}, rank "
                  f"{a['rank']}, alpha {a['alpha']:g}, adapts {', '.join(a['targets'])}")
    for c in catalog:
        note = "" if c["confirmed"] else "  [file name unconfirmed]"
        print(f"  {c['id']:<28} {c['repo_id']} {c['filename']}  ~{human_bytes(c['approx_bytes'])}"
              f"  {c['quantization']}  {c['fit']}{note}")
    return 0


def _adapter_rows() -> list[dict[str, Any]]:
    from fireside.core.models.adapters import AdapterError, list_adapters

    rows: list[dict[str, Any]] = []
    for path, info in list_adapters(_context()[0].adapters):
        size = path.stat().st_size if path.exists() else 0
        if isinstance(info, AdapterError):
            rows.append({"name": path.name, "path": str(path), "size": size, "problem": str(info)})
        else:
            rows.append({"name": info.name, "path": str(path), "size": size, "problem": "",
                         "architecture": info.architecture, "rank": info.rank, "alpha": info.alpha,
                         "targets": list(info.targets), "linked": path.is_symlink()})
    return rows


class _Bar:
    """One line redrawn on a terminal; a line every few seconds when stderr is a file or pipe."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        if p.phase == "downloading" and now - self.last < (0.2 if self.tty else 2.0):
            return
        self.last = now
        pct = 100.0 * p.done / p.total if p.total else 100.0
        if p.phase == "downloading":
            eta = (", stalled: waiting for data" if p.stalled
                   else f", {p.eta_s:.0f} s left" if p.eta_s is not None else "")
            fill = int(pct / 5)
            line = (f"[{'#' * fill}{'.' * (20 - fill)}] {pct:5.1f}%  {human_bytes(p.done)} of "
                    f"{human_bytes(p.total)}  {human_bytes(p.speed)}/s{eta}")
        else:
            line = p.message or p.phase
        if self.tty:
            sys.stderr.write("\r\x1b[2K" + line + ("\n" if p.phase in ("retrying", "done") else ""))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def _pull(args: argparse.Namespace, models: Path) -> int:
    from fireside.core.config.secrets import TokenStore
    from fireside.core.config.settings import load_settings
    from fireside.core.models.catalog import find
    from fireside.core.models.downloads import Downloader, DownloadError
    from fireside.core.models.hub import HubError, remote_file
    from fireside.core.models.installed import already_installed, record_download

    paths, policy, _ = _context()
    if refusal := policy.download_refusal():
        raise _Bad(refusal)
    if load_settings(paths.settings_file).offline:
        raise _Bad("Offline mode is on, so Fireside will not download. Turn it off in Settings.")
    if len(args.what) == 1:
        entry = find(args.what[0])
        if entry is None:
            raise _Bad(f"{args.what[0]!r} is not in the catalog; give a catalog id or REPO FILE.")
        repo, filename = entry.repo_id, entry.filename
    elif len(args.what) == 2:
        repo, filename = args.what
    else:
        raise _Bad("pull takes a catalog id, or a repo id and a file name.")
    from fireside.core.admin.model_access import adapter_name_refusal

    if refusal := (policy.model_refusal(repo, filename) if not args.adapter
                   else adapter_name_refusal(filename, policy)):
        raise _Bad(refusal)
    # --token-stdin: for this run only, never stored
    token = (sys.stdin.readline().strip() or None) if args.token_stdin else TokenStore().get()
    try:
        remote = remote_file(repo, filename, token=token)
    except HubError as e:
        if e.kind == "not_found":
            raise _Bad(str(e)) from None
        print(f"fireside: {e}", file=sys.stderr)
        return 1
    pinned = policy.expected_sha256(repo, filename)
    if pinned and remote.sha256 and remote.sha256.lower() != pinned:
        print(f"fireside: the Hub's SHA-256 for {repo} {filename} does not match the one your "
              "organisation's policy pins (allowed_models); not downloading.", file=sys.stderr)
        return 1
    if args.adapter:
        return _pull_adapter(remote, token)
    existing = next((p for d in _dirs(models) if (p := already_installed(d.path, remote))), None)
    if existing is not None:
        print(f"Already downloaded: {existing}", file=sys.stderr)
        print(existing)
        return 0
    dl = Downloader(models, token=token, on_progress=_Bar())
    try:
        path = dl.download(remote)
    except DownloadError as e:
        print(f"\nfireside: {e}", file=sys.stderr)
        return 1
    record_download(models, remote, path)
    print(path)
    return 0


def _pull_adapter(remote: Any, token: str | None) -> int:
    """Download through the same verified, resumable downloader, then check it as an adapter."""
    from fireside.core.admin.model_access import adapter_refusal
    from fireside.core.models.adapters import AdapterError, adopt_download
    from fireside.core.models.downloads import Downloader, DownloadError

    paths, policy, _ = _context()
    dl = Downloader(paths.adapters / ".downloads", token=token, on_progress=_Bar())
    try:
        path = dl.download(remote)
    except DownloadError as e:
        print(f"\nfireside: {e}", file=sys.stderr)
        return 1
    if refusal := adapter_refusal(path, policy, paths.cache):
        path.unlink(missing_ok=True)
        raise _Bad(refusal)
    try:
        dest, info = adopt_download(paths.adapters, path)
    except AdapterError as e:
        print(f"fireside: {e}", file=sys.stderr)
        return 1
    print(f"Downloaded the adapter {info.name} (LoRA for {info.architecture}, rank {info.rank})",
          file=sys.stderr)
    print(dest)
    return 0


def _import(args: argparse.Namespace, models: Path) -> int:
    from fireside.core.models.installed import ModelError, import_model

    source = Path(args.path).expanduser()
    if args.adapter:
        return _import_adapter(args, source)
    if args.shared:
        return _import_shared(args, source)
    if args.sha256 or args.sums:
        raise _Bad("--sha256 and --sums go with --shared (a user's own import is checked by its header).")
    try:
        model, info = import_model(models, source, copy=args.copy)
    except ModelError as e:
        raise _Bad(str(e)) from None
    how = "copied to" if args.copy else "linked as"
    print(f"Imported {info.name} ({info.architecture}, {info.quantization}); {how} {model.path}")
    return 0


def _import_adapter(args: argparse.Namespace, source: Path) -> int:
    from fireside.core.admin.model_access import adapter_refusal
    from fireside.core.models.adapters import AdapterError, import_adapter, read_adapter

    if args.shared or args.sha256 or args.sums:
        raise _Bad("--adapter imports into your own adapters; leave out --shared, --sha256 and --sums.")
    paths, policy, _ = _context()
    try:
        read_adapter(source)  # a clear refusal before the policy hashes anything
        if refusal := adapter_refusal(source, policy, paths.cache):
            raise _Bad(refusal)
        dest, info = import_adapter(paths.adapters, source, copy=args.copy)
    except AdapterError as e:
        raise _Bad(f"Not imported: {e}") from None
    how = "copied to" if args.copy else "linked as"
    print(f"Imported the adapter {info.name} (LoRA for {info.architecture}, rank {info.rank}, "
          f"adapts {', '.join(info.targets)}); {how} {dest}")
    return 0


def _import_shared(args: argparse.Namespace, source: Path) -> int:
    from fireside.core.models.folders import site_models_dir
    from fireside.core.models.installed import ChecksumMismatch, ModelError, expected_from_sums, import_shared

    if bool(args.sha256) == bool(args.sums):
        raise _Bad("--shared needs the file's expected checksum: give --sha256 HEX or --sums SHA256SUMS.")
    if args.copy:
        raise _Bad("--shared always copies; leave out --copy.")
    if not source.is_file():
        raise _Bad(f"{source} is not a file.")
    try:
        expected = args.sha256 or expected_from_sums(Path(args.sums).expanduser(), source.name)
        model = import_shared(site_models_dir(), source, expected, on_progress=_copy_progress())
    except ChecksumMismatch:
        raise  # the file, not the command, is wrong: exit 1
    except ModelError as e:
        raise _Bad(str(e)) from None
    print(f"Verified the SHA-256 and copied {source.name} to {model.path}. Every user on this "
          "computer can now use it without downloading.")
    return 0


def _copy_progress() -> Any:
    """Copying and hashing 12 GB takes a while: a percentage every 5% says it is still going."""
    shown = [-5]

    def report(done: int, total: int) -> None:
        pct = 100 * done // max(total, 1)
        if pct >= shown[0] + 5:
            shown[0] = pct
            print(f"Copying and checking: {pct}% of {human_bytes(total)}", file=sys.stderr, flush=True)
    return report


def _installed(models: Path, name: str, *, shared: bool = False) -> Any:
    from fireside.core.models.installed import ModelError, find_installed, list_all

    try:
        found = find_installed(models, name, list_all(_dirs(models)))
    except ModelError as e:
        raise _Bad(str(e)) from None
    if shared and not found.shared:
        raise _Bad(f"{found.name} is in your own models folder, not the shared one; leave out --shared.")
    return found


def _remove(args: argparse.Namespace, models: Path) -> int:
    from fireside.core.models.installed import ModelError, remove_model

    if args.adapter:
        from fireside.core.models.adapters import AdapterError, remove_adapter

        try:
            gone = remove_adapter(_context()[0].adapters, args.model)
        except AdapterError as e:
            raise _Bad(str(e)) from None
        print(f"Removed the adapter {gone.name}")
        return 0
    model = _installed(models, args.model, shared=args.shared)
    if model.shared and not args.shared:
        raise _Bad(f"{model.name} is shared with every user on this computer ({model.folder.path}); "
                   "Fireside does not delete it for one user. An administrator can remove it with "
                   f"`sudo fireside models remove --shared {model.name}`.")
    linked = model.linked  # ask before the link is gone
    try:
        remove_model(model.folder.path if model.folder else models, model)
    except PermissionError:
        raise ModelError(f"Removing {model.name} needs administrator rights: run the command with "
                         "sudo (or as Administrator).") from None
    print(f"Removed {model.name}" + (" (the link only; your file is untouched)" if linked else ""))
    return 0


def _verify(args: argparse.Namespace, models: Path) -> int:
    from fireside.core.models.installed import verify_model

    print(verify_model(_installed(models, args.model)))
    return 0


def _info(args: argparse.Namespace, models: Path) -> int:
    from fireside.core.models.fit_planner import detect_machine, plan_fit, profile_from_gguf
    from fireside.core.models.gguf_info import GGUFError, read_gguf

    model = _installed(models, args.model)
    try:
        g = read_gguf(model.path)
    except GGUFError as e:
        print(f"fireside: {e}", file=sys.stderr)
        return 1
    plan = plan_fit(profile_from_gguf(g), detect_machine())
    info = {"name": g.name, "architecture": g.architecture, "parameters": g.n_parameters,
            "quantization": g.quantization, "context_length": g.context_length,
            "size": g.file_size, "path": str(model.path), "source": model.source,
            "fit": {"badge": plan.badge, "n_ctx": plan.n_ctx, "n_gpu_layers": plan.n_gpu_layers,
                    "n_cpu_moe": plan.n_cpu_moe, "flash_attn": plan.flash_attn,
                    "reason": plan.reason}}
    if args.json:
        print(json.dumps(info))
        return 0
    for k in ("name", "architecture", "parameters", "quantization", "context_length"):
        print(f"{k.replace('_', ' ').capitalize():<16} {info[k]:,}" if isinstance(info[k], int)
              else f"{k.replace('_', ' ').capitalize():<16} {info[k]}")
    print(f"{'Size':<16} {human_bytes(g.file_size)}")
    print(f"{'Path':<16} {model.path}")
    print(f"{'Fit':<16} {plan.badge}: {plan.reason}")
    return 0
