"""What `fireside doctor` reports: enough for a user to file a useful bug or an admin to audit."""

from __future__ import annotations

import json
import os
import platform
import sys
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
            backend_modules,
            devices,
            gpu_absent_reason,
            load_backends,
            loaded_backends,
        )
        from fireside.core.engine.llama_log import install_log_handler

        install_log_handler()
        load_backends()
        llama_cpp.llama_backend_init()
        found = devices()
        gpu = bool(llama_cpp.llama_supports_gpu_offload())
        kind = next((d.kind for d in found if d.is_gpu), "CPU")
        return {
            "llama_cpp_python": llama_cpp.__version__,
            "backend": kind if gpu else "CPU",
            "gpu_offload": gpu,
            "backend_modules": backend_modules(),
            "backends_loaded": loaded_backends(),
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
        "policy": policy.as_json(),
        "keyring": _keyring(),
        # where models are looked for, first match wins (docs/ADMIN.md)
        "model_search_order": [{"path": str(d.path), "kind": d.kind, "origin": d.origin,
                                "exists": d.path.is_dir()} for d in dirs],
        "fit": _fit_plans(dirs),
    }


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
        lines.append(f"Backends: shipped {modules}; loaded {', '.join(llama['backends_loaded']) or 'none'}")
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
    lines += [f"Fit: {f['model']}: {f['badge']}, {f['n_ctx']:,} tokens" for f in r["fit"]]
    return "\n".join(lines)
