"""What `fireside doctor` reports: enough for a user to file a useful bug or an admin to audit."""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

from fireside import __version__
from fireside.core.config.paths import app_paths
from fireside.core.config.settings import load_settings
from fireside.core.engine.protocol import physical_cores
from fireside.core.models.fit_planner import meminfo_bytes


def _backend() -> dict[str, Any]:
    """Ask llama.cpp itself; importing it is the only way to know how it was built."""
    try:
        import llama_cpp

        from fireside.core.engine.devices import (
            backend_device_counts,
            backend_modules,
            cpu_module,
            cpu_variant_scores,
            devices,
            gpu_absent_reason,
            load_backends,
            loaded_backends,
            variant_of,
        )
        from fireside.core.engine.llama_log import install_log_handler

        install_log_handler()
        load_backends()
        llama_cpp.llama_backend_init()
        found = devices()
        gpu = bool(llama_cpp.llama_supports_gpu_offload())
        kind = next((d.kind for d in found if d.is_gpu), "CPU")
        module = cpu_module()
        return {
            "llama_cpp_python": llama_cpp.__version__,
            "backend": kind if gpu else "CPU",
            "gpu_offload": gpu,
            "backend_modules": backend_modules(),
            "backends_loaded": loaded_backends(),
            # which build of the CPU backend ggml chose for this processor, and what each scored
            "cpu_module": os.path.basename(module),
            "cpu_variant": variant_of(module),
            "cpu_variant_scores": cpu_variant_scores(),
            "backend_devices": backend_device_counts(),  # {"CUDA": 0}: loaded, but no device
            "devices": [d.name for d in found],
            "device_details": [
                {"name": d.name, "description": d.description, "backend": d.kind,
                 "type": d.type_name, "free_bytes": d.free, "total_bytes": d.total}
                for d in found
            ],
            "gpu_note": gpu_absent_reason(),
            "cpu_features": llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip(),
        }
    except Exception as e:  # a broken install is exactly what doctor must report, not crash on
        return {"error": f"llama.cpp could not be loaded: {e}"}


def _keyring() -> dict[str, Any]:
    try:
        from fireside.core.config.secrets import TokenStore

        store = TokenStore()
        return {"backend": store.backend_name, "usable": store.usable, "status": store.status()}
    except Exception as e:  # a broken keyring install is something doctor reports, not dies on
        return {"backend": "unavailable", "usable": False, "status": f"keyring failed: {e}"}


def _tls() -> dict[str, Any]:
    """Which CA certificates downloads trust (core/net/tls.py), and how many were loaded."""
    from fireside.core.net.tls import TrustStoreError, ssl_context, trust_source

    source = trust_source()
    try:
        count: int | None = ssl_context().cert_store_stats()["x509_ca"]
    except TrustStoreError as e:
        return {"source": source.describe(), "kind": source.kind, "ca_certificates": 0,
                "problem": str(e)}
    if sys.platform in ("win32", "darwin") and source.kind == "system":
        count = None  # the OS verifies; OpenSSL's store is not used
    return {"source": source.describe(), "kind": source.kind, "ca_certificates": count}


def _fit_plans(dirs: Any) -> list[dict[str, Any]]:
    """The planner's verdict for each model Fireside can find (headers only, no loads)."""
    from fireside.core.models.fit_planner import detect_machine, plan_fit, profile_from_gguf
    from fireside.core.models.gguf_info import GGUFError, read_gguf
    from fireside.core.models.installed import list_all

    out: list[dict[str, Any]] = []
    machine = None
    for m in list_all(dirs):
        try:
            g = read_gguf(m.path)
        except GGUFError:
            continue
        machine = machine or detect_machine()
        plan = plan_fit(profile_from_gguf(g), machine)
        out.append({"model": m.name, "path": str(m.path), "shared": m.shared,
                    "badge": plan.badge, "n_ctx": plan.n_ctx,
                    "n_gpu_layers": plan.n_gpu_layers, "n_cpu_moe": plan.n_cpu_moe,
                    "reason": plan.reason})
    return out


def _tools(paths: Any, policy: Any) -> dict[str, Any]:
    """Tools as policy and mcp.json leave them; no MCP server is started for this."""
    try:
        from fireside.core.tools.defaults import build_registry

        with build_registry(paths, policy) as registry:
            return registry.summary()
    except Exception as e:  # a broken tools setup is something doctor reports, not dies on
        return {"error": f"the tools could not be inspected: {e}"}


def report() -> dict[str, Any]:
    from fireside.core.admin.policy import load_policy
    from fireside.core.config.settings import effective_settings
    from fireside.core.models.folders import model_dirs

    policy = load_policy()
    paths = app_paths(policy=policy)
    dirs = model_dirs(paths, policy)
    settings = effective_settings(load_settings(paths.settings_file), policy)
    return {
        "fireside": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "paths": paths.as_json(),
        "fireside_home": os.environ.get("FIRESIDE_HOME", ""),
        "cpu": {"logical": os.cpu_count() or 0, "physical": physical_cores()},
        "ram_bytes": meminfo_bytes("MemTotal"),
        "ram_available_bytes": meminfo_bytes("MemAvailable"),
        "llama": _backend(),
        "settings": {"last_model": settings.last_model, "effort": settings.effort,
                     "n_ctx": settings.n_ctx},
        "network": "offline: Fireside makes no network calls unless you start a download",
        "tls": _tls(),
        "policy": policy.as_json(),
        "keyring": _keyring(),
        "tools": _tools(paths, policy),
        "api_server": _api_server(settings, policy),
        # where models are looked for, first match wins (docs/ADMIN.md)
        "model_search_order": [{"path": str(d.path), "kind": d.kind, "origin": d.origin,
                                "exists": d.path.is_dir()} for d in dirs],
        "fit": _fit_plans(dirs),
        "python_tool": _python_tool(),
        "adapters": _adapters(paths.adapters, policy, paths.cache),
    }


def _api_server(settings: Any, policy: Any) -> dict[str, Any]:
    """The local API server as settings and policy leave it; it is not started for this."""
    import ipaddress

    host = settings.api_host
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    refusal = policy.api_server_refusal(host, loopback)
    return {"allowed": not refusal, "refusal": refusal, "host": host, "port": settings.api_port,
            "loopback_only": loopback, "load_on_demand": settings.api_load_on_demand,
            "cors_origins": list(settings.api_cors_origins),
            "remote_allowed_by_policy": policy.get("local_api_server_remote_allowed") is True}


def _python_tool() -> dict[str, Any]:
    """Which isolations the built-in python tool's sandbox would run under here (issue 11)."""
    from fireside.core.tools.isolation import isolation_report

    return isolation_report().as_json() | {"lines": isolation_report().lines()}


def _adapters(folder: Path, policy: Any, cache: Path) -> list[dict[str, Any]]:
    """Installed LoRA adapters: what each is for, and whether the policy lets it be applied."""
    from fireside.core.admin.model_access import adapter_refusal
    from fireside.core.models.adapters import AdapterError, list_adapters

    out: list[dict[str, Any]] = []
    for path, info in list_adapters(folder):
        if isinstance(info, AdapterError):
            out.append({"name": path.name, "path": str(path), "problem": str(info)})
            continue
        out.append({"name": info.name, "path": str(path), "architecture": info.architecture,
                    "rank": info.rank, "alpha": info.alpha, "targets": list(info.targets),
                    "refused": adapter_refusal(path, policy, cache)})
    return out


def _devices_word(n: int) -> str:
    return "no device" if n == 0 else f"{n} device{'s' if n > 1 else ''}"


def format_text(r: dict[str, Any]) -> str:
    llama = r["llama"]
    lines = [
        f"Fireside {r['fireside']} on Python {r['python']} ({r['platform']})",
        f"CPU: {r['cpu']['physical']} physical / {r['cpu']['logical']} logical cores",
        f"RAM: {r['ram_bytes'] / 2**30:.1f} GiB total, "
        f"{r['ram_available_bytes'] / 2**30:.1f} GiB available",
    ]
    if "error" in llama:
        lines.append(f"llama.cpp: PROBLEM: {llama['error']}")
    else:
        lines.append(
            f"llama.cpp: llama-cpp-python {llama['llama_cpp_python']}, backend {llama['backend']}"
            f", GPU offload {'yes' if llama['gpu_offload'] else 'no'}"
        )
        modules = ", ".join(llama["backend_modules"]) or "none (built in)"
        counts = llama.get("backend_devices", {})
        loaded = ", ".join(f"{b} ({_devices_word(counts[b])})" if b in counts else b
                           for b in llama["backends_loaded"])
        lines.append(f"Backends: shipped {modules}; loaded {loaded or 'none'}")
        lines.append(_cpu_backend_text(llama))
        lines.append("Devices:" if llama["device_details"] else "Devices: none")
        for d in llama["device_details"]:
            memory = (f"{d['free_bytes'] / 2**30:.1f} GiB free of {d['total_bytes'] / 2**30:.1f} GiB"
                      if d["total_bytes"] else "memory unknown")
            desc = f" ({d['description']})" if d["description"] and d["description"] != d["name"] else ""
            kind = "" if d["backend"] == d["type"] else f"{d['backend']} {d['type']}, "
            lines.append(f"  {d['name']}{desc}: {kind}{memory}")
        if llama["gpu_note"]:
            lines.append(llama["gpu_note"])
    lines.append("Paths:")
    lines += [f"  {k:<7} {v}" for k, v in r["paths"].items()]
    lines.append("Models are looked for in (first match wins):")
    lines += [f"  {d['path']}  ({d['origin']}{'' if d['exists'] else ', not there yet'})"
              for d in r["model_search_order"]]
    lines.append(f"Last model: {r['settings']['last_model'] or '(none yet)'}")
    lines.append(f"Network: {r['network']}")
    tls = r["tls"]
    count = "" if tls["ca_certificates"] is None else f", {tls['ca_certificates']} CA certificates"
    lines.append(f"HTTPS trust: {tls['source']}{count}")
    if "problem" in tls:
        lines.append(f"PROBLEM: {tls['problem']}")
    lines.append(f"Keyring: {r['keyring']['backend']} ({r['keyring']['status']})")
    policy = r["policy"]
    if policy["values"]:
        lines.append("Policy in effect:")
        lines += [f"  {k} = {json.dumps(v['value'])}  ({v['source']})"
                  for k, v in policy["values"].items()]
    else:
        lines.append(f"Policy: none ({', '.join(policy['sources_checked'])} not found)")
    lines += [f"PROBLEM: {p['source']}{', key ' + p['key'] if p['key'] else ''}: {p['message']}"
              for p in policy["problems"]]
    lines += _tools_text(r["tools"])
    if "api_server" in r:
        a = r["api_server"]
        where = f"http://{a['host']}:{a['port']}/v1" + ("" if a["loopback_only"] else " (beyond loopback)")
        lines.append(f"Local API server: {'allowed' if a['allowed'] else a['refusal']}; {where}; "
                     f"key required; CORS origins: {', '.join(a['cors_origins']) or 'none'}")
    lines += [f"Fit: {f['model']}: {f['badge']}, {f['n_ctx']:,} tokens" for f in r["fit"]]
    if "python_tool" in r:
        lines.append("Python tool sandbox:")
        lines += [f"  {line}" for line in r["python_tool"]["lines"]]
    for a in r.get("adapters", []):
        what = a.get("problem") or (f"LoRA for {a['architecture']}, rank {a['rank']}"
                                    + (f"; PROBLEM: {a['refused']}" if a["refused"] else ""))
        lines.append(f"Adapter: {a['name']}: {what}")
    return "\n".join(lines)


def _cpu_backend_text(llama: dict[str, Any]) -> str:
    """Which CPU build llama.cpp runs on: with GGML_CPU_ALL_VARIANTS, the variant it picked."""
    module, variant = llama.get("cpu_module", ""), llama.get("cpu_variant", "")
    scores: dict[str, int] = llama.get("cpu_variant_scores", {})
    if not variant:
        return (f"CPU backend: {module}, a single build" if module
                else "CPU backend: which build is in use could not be determined here")
    runs = [v for v, score in sorted(scores.items(), key=lambda kv: kv[1]) if score > 0]
    return (f"CPU backend: {variant} ({module}), chosen by llama.cpp from {len(scores)} variants; "
            f"this processor can run {', '.join(runs) or 'none of them'}")


def _tools_text(t: dict[str, Any]) -> list[str]:
    if "error" in t:
        return [f"Tools: PROBLEM: {t['error']}"]
    mode = {"off": "off", "listed": "only " + (", ".join(t["allowed_mcp_servers"]) or "(none listed)"),
            "any": "any"}.get(t["mcp_servers"], t["mcp_servers"])
    lines = [f"Tools: {'allowed' if t['tools_allowed'] else 'turned off by policy'}; "
             f"MCP servers allowed: {mode}; always-allow: "
             f"{'allowed' if t['auto_approval_allowed'] else 'forbidden by policy'}",
             f"  python: {t['python']['state']}"
             + (f" ({t['python']['reason']})" if t["python"]["reason"] else ""),
             f"  MCP servers from {t['config']}" + ("" if t["config_exists"] else " (no such file)")]
    for s in t["servers"]:
        why = s["policy"] or s["error"]
        lines.append(f"    {s['name']}: {s['state']}, {s['transport']} {s['target']}"
                     + (f", {s['tools']} tools known" if s["tools"] else "") + (f" ({why})" if why else ""))
    lines += [f"PROBLEM: {p}" for p in t["problems"]]
    return lines
