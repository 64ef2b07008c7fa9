"""Build the Linux bundle, .tar.gz and .deb once, then use them the way an admin would.

The .deb is installed into the real system with `dpkg -i` (as root), not into a throwaway
`dpkg --root`: the package's launcher is an absolute symlink to /opt/fireside, its maintainer
scripts run against the real /usr/share, and its dependencies are resolved against the real
dpkg database. A throwaway root would need --force-depends and chrootless scripts, i.e. test
a different installation than the one admins run. The package is purged again at the end, and
the test refuses to start where a `fireside` package is already installed, so it never replaces
someone's real installation.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import platformdirs
import pytest

import fireside
from fireside.core.engine.devices import (
    backend_modules,
    cpu_module,
    cpu_variant_scores,
    cpu_variants,
    variant_of,
)
from tests.helpers.hf_server import HubServer
from tests.helpers.machine import expected_backend
from tests.helpers.tls_certs import make_pki

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "installer" / "linux" / "build.sh"
INSTALL_DIR = Path("/opt/fireside")
LAUNCHER = Path("/usr/bin/fireside")
POLICY_DIR = Path("/etc/fireside")


@dataclass(frozen=True)
class Artifacts:
    bundle: Path
    deb: Path
    tarball: Path


def _clean_env(real_shared: bool = False, **extra: str) -> dict[str, str]:
    """The user's environment as a frozen app sees it: no venv, no Python path from pytest.

    real_shared: no FIRESIDE_SHARED_MODELS_DIR either (the test suite points it at a temporary
    folder), so the app uses the real machine-wide folder, as on a user's machine.
    """
    drop = ("VIRTUAL_ENV", "LD_LIBRARY_PATH") + (("FIRESIDE_SHARED_MODELS_DIR",) if real_shared else ())
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k not in drop}
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env.update(extra)
    return env


def _run(cmd: list[str | Path], timeout: float = 120, real_shared: bool = False,
         **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                          env=_clean_env(real_shared, **extra))


def _package_installed() -> bool:
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "fireside"], capture_output=True, text=True)
    return r.returncode == 0 and "installed" in r.stdout and "not-installed" not in r.stdout


@pytest.fixture(scope="module")
def artifacts() -> Artifacts:
    if os.geteuid() != 0:
        pytest.fail("The Linux package test installs the .deb with dpkg and needs root. Run the "
                    "suite as root (CI does), e.g. sudo .venv/bin/python -m pytest tests/installer.")
    for tool in ("dpkg", "dpkg-deb", "tar"):
        if shutil.which(tool) is None:
            pytest.fail(f"The Linux package test needs {tool}; this is not a Debian-style system.")
    result = subprocess.run([str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=1800, cwd=ROOT)
    assert result.returncode == 0, f"build.sh failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    dist = ROOT / "dist"
    debs = sorted(dist.glob(f"fireside_{fireside.__version__}_*.deb"))
    tarballs = sorted(dist.glob(f"fireside-{fireside.__version__}-linux-*.tar.gz"))
    assert len(debs) == 1 and len(tarballs) == 1, sorted(p.name for p in dist.iterdir())
    return Artifacts(dist / "fireside", debs[0], tarballs[0])


def _assert_doctor(launcher: Path | str, home: Path) -> dict:
    r = _run([launcher, "doctor", "--json"])
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["fireside"] == fireside.__version__
    llama = report["llama"]
    assert "error" not in llama, llama
    assert llama["llama_cpp_python"] == "0.3.36"
    assert "CPU" in llama["devices"]
    assert report["paths"]["data"] == str(home.resolve() / "data")
    assert report["policy"]["sources_checked"][0] == "/etc/fireside/policy.json"
    assert report["policy"]["problems"] == []
    return report


def _assert_chat(launcher: Path | str, model: Path, *, save: bool = False, real_shared: bool = False) -> None:
    cmd: list[str | Path] = [launcher, "chat", "--model", model, "--max-tokens", "8", "--json"]
    r = _run([*cmd, *([] if save else ["--no-save"]), "hi"], real_shared=real_shared)
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    assert events and events[-1]["type"] == "done", events
    stats = events[-1]["stats"]
    assert 0 < stats["reasoning_tokens"] + stats["answer_tokens"] <= 8
    assert stats["prompt_tokens"] > 0


def _chat_log(launcher: Path | str, model: Path, home: Path, **extra: str) -> str:
    """Chat once and return what the run added to the log file (llama.cpp's own load report)."""
    log = home / "logs" / "fireside.log"
    start = log.stat().st_size if log.exists() else 0
    r = _run([launcher, "chat", "--model", model, "--max-tokens", "4", "--no-save", "hi"],
             timeout=300, **extra)
    assert r.returncode == 0, r.stderr[-2000:]
    with log.open(encoding="utf-8") as fh:
        fh.seek(start)
        return fh.read()


def _assert_backends(launcher: Path | str, report: dict, model: Path, home: Path) -> None:
    """The bundle ships the venv's backend modules and loads them, the CPU backend as the variant
    ggml scores best here (every variant is in the bundle: each was scored); with Vulkan among
    them, it runs the model on a Vulkan device (Mesa's lavapipe, opted in) and on the CPU when no
    Vulkan driver is found (the ICD hidden), each as llama.cpp itself reports."""
    llama = report["llama"]
    assert llama["backend_modules"] == backend_modules(), llama
    assert sorted(llama["cpu_variant_scores"]) == cpu_variants(), llama
    assert llama["cpu_variant_scores"] == cpu_variant_scores(), llama
    assert llama["cpu_variant"] == variant_of(cpu_module()), llama
    if "vulkan" not in backend_modules():
        return
    assert {"CPU", "Vulkan"} <= set(llama["backends_loaded"]), llama
    lavapipe = {"GGML_VK_VISIBLE_DEVICES": "0"}
    r = _run([launcher, "doctor", "--json"], **lavapipe)
    assert r.returncode == 0, r.stderr
    devices = json.loads(r.stdout)["llama"]["device_details"]
    assert any(d["name"] == "Vulkan0" and "llvmpipe" in d["description"] for d in devices), devices
    log = _chat_log(launcher, model, home, **lavapipe)
    offloaded = re.search(r"offloaded (\d+)/(\d+) layers to GPU", log)
    assert offloaded and offloaded.group(1) == offloaded.group(2) != "0", log[-3000:]
    assert "Vulkan0 model buffer size" in log and "GPU (Vulkan: llvmpipe" in log, log[-3000:]
    no_driver = {**lavapipe, "VK_ICD_FILENAMES": "/nonexistent/icd.json",
                 "VK_DRIVER_FILES": "/nonexistent/icd.json"}
    r = _run([launcher, "doctor", "--json"], **no_driver)
    assert r.returncode == 0, r.stderr
    llama = json.loads(r.stdout)["llama"]
    assert llama["devices"] == ["CPU"] and llama["gpu_note"].startswith("No GPU in use"), llama
    assert llama["cpu_variant"] == variant_of(cpu_module()), llama
    log = _chat_log(launcher, model, home, **no_driver)
    assert "Vulkan0" not in log and re.search(r"loaded .*, CPU\)", log), log[-3000:]


# What the maintainer scripts may run: the desktop and icon cache refreshers, nothing else.
CACHE_TOOLS = ("update-desktop-database", "gtk-update-icon-cache")


def _assert_maintainer_scripts_only_refresh_caches(control: Path, shims: Path) -> None:
    """Run postinst and postrm as dpkg does (configure; remove; purge) with a PATH that holds only
    stand-ins for the cache tools, which record their calls. Any other program a script starts
    (rm, find, mv, deluser, ...) is not found, which fails the script under `set -e` or shows on
    stderr; so the scripts can run only the refreshers, and the test sees each call they make."""
    shims.mkdir()
    calls = shims / "calls.log"
    for tool in CACHE_TOOLS:
        shim = shims / tool
        shim.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{calls}"\n')
        shim.chmod(0o755)
    index_theme = Path("/usr/share/icons/hicolor/index.theme").is_file()
    expected = ["update-desktop-database -q /usr/share/applications",
                *(["gtk-update-icon-cache -q -t -f /usr/share/icons/hicolor"] if index_theme else [])]
    for script, args in (("postinst", ["configure", "0.0"]), ("postrm", ["remove"]),
                         ("postrm", ["purge"])):
        calls.unlink(missing_ok=True)
        r = subprocess.run(["/bin/sh", str(control / script), *args], capture_output=True, text=True,
                           timeout=60, env={"PATH": str(shims)}, cwd=shims)
        assert r.returncode == 0 and r.stderr == "", f"{script} {args[0]}: {r.stderr}"
        ran = calls.read_text().splitlines() if calls.exists() else []
        assert ran == expected, f"{script} {args[0]} ran {ran}, expected only the cache refreshers"


def test_deb_metadata_contents_and_desktop_entry(artifacts: Artifacts, tmp_path: Path) -> None:
    fields = _run(["dpkg-deb", "-f", artifacts.deb, "Package", "Version", "Depends"]).stdout
    assert "Package: fireside" in fields and f"Version: {fireside.__version__}" in fields
    assert "libxcb-cursor0" in fields  # the Qt xcb libraries come from the system
    listing = _run(["dpkg-deb", "-c", artifacts.deb]).stdout
    lines = listing.splitlines()
    assert all(" root/root " in line for line in lines), "every file must be owned by root"
    names = {line.split()[5].removeprefix(".") for line in lines}
    cpu_modules = [f"/opt/fireside/_internal/llama_cpp/lib/libggml-cpu-{v}.so" for v in cpu_variants()]
    for path in ("/opt/fireside/fireside", "/opt/fireside/_internal/llama_cpp/lib/libllama.so.0",
                 *cpu_modules,
                 "/usr/share/applications/fireside.desktop",
                 "/usr/share/icons/hicolor/256x256/apps/fireside.png",
                 "/usr/share/icons/hicolor/512x512/apps/fireside.png",
                 "/usr/share/icons/hicolor/scalable/apps/fireside.svg",
                 "/usr/share/doc/fireside/policy.example.json"):
        assert path in names, path
    assert any(line.startswith("lrwxrwxrwx") and "./usr/bin/fireside -> /opt/fireside/fireside" in line
               for line in lines)
    assert not any(n.startswith("/etc/") for n in names), "the package must not ship a live policy"
    # Qt trimmed to what Fireside uses: no translations, no Qt modules it never imports.
    assert not any("/Qt/translations/" in n for n in names)
    for unused in ("QtQml", "QtQuick", "QtWebEngineCore", "QtSql"):
        assert f"/opt/fireside/_internal/PySide6/{unused}.abi3.so" not in names, unused
    # QtNetwork ships for QLocalServer (one window per data folder), without Qt's TLS plugins.
    assert "/opt/fireside/_internal/PySide6/QtNetwork.abi3.so" in names
    assert not any("/plugins/tls/" in n for n in names)
    control = tmp_path / "control"
    assert _run(["dpkg-deb", "-e", artifacts.deb, control]).returncode == 0
    assert not (control / "conffiles").exists()
    _assert_maintainer_scripts_only_refresh_caches(control, tmp_path / "shims")
    if shutil.which("desktop-file-validate") is None:
        pytest.fail("desktop-file-validate is missing: scripts/system-deps.sh --test installs it "
                    "(apt package desktop-file-utils).")
    unpacked = tmp_path / "unpacked"
    assert _run(["dpkg-deb", "-x", artifacts.deb, unpacked]).returncode == 0
    r = _run(["desktop-file-validate", unpacked / "usr/share/applications/fireside.desktop"])
    assert r.returncode == 0 and not r.stdout.strip(), r.stdout


def test_tarball_is_normalised_and_its_launcher_runs(
    artifacts: Artifacts, tmp_path: Path, fireside_home: Path, tiny_gptoss_path: Path
) -> None:
    with tarfile.open(artifacts.tarball) as tar:
        members = tar.getmembers()
        tar.extractall(tmp_path, filter="tar")
    names = [m.name for m in members]
    assert names == sorted(names, key=lambda n: n.split("/"))  # tar --sort=name, depth first
    assert {(m.uid, m.gid) for m in members} == {(0, 0)}
    assert len({m.mtime for m in members}) == 1  # one fixed time: the commit's
    launcher = tmp_path / "fireside" / "fireside"
    assert os.access(launcher, os.X_OK)
    _assert_doctor(launcher, fireside_home)
    _assert_chat(launcher, tiny_gptoss_path)


@pytest.fixture
def shared_model(tmp_path: Path, tiny_gptoss_path: Path) -> Iterator[Path]:
    """Where the admin's pre-seeded model lands in the real machine-wide folder (the test imports
    it through the installed launcher); removed again afterwards, with its manifest entry."""
    shared = Path(platformdirs.site_data_dir("Fireside", appauthor=False)) / "models"
    made = next((p for p in (shared.parent, shared) if not p.exists()), None)
    model = shared / f"installer-test-{uuid.uuid4().hex[:8]}.gguf"
    yield model
    if made is not None:
        shutil.rmtree(made, ignore_errors=True)
        return
    model.unlink(missing_ok=True)
    manifest = shared / "manifest.json"
    if manifest.is_file():
        data = json.loads(manifest.read_text())
        data.pop(model.name, None)
        manifest.write_text(json.dumps(data))


def test_deb_installs_runs_and_uninstalls_without_touching_data(
    artifacts: Artifacts, fireside_home: Path, tiny_gptoss_path: Path, shared_model: Path, tmp_path: Path
) -> None:
    if _package_installed():
        pytest.fail("A fireside package is already installed on this machine. This test installs "
                    "and purges its own build; run it where none is installed (dpkg -P fireside).")
    assert not INSTALL_DIR.exists(), f"{INSTALL_DIR} exists without a package; remove it first."
    if (POLICY_DIR / "policy.json").exists():  # the test deletes its own at the end: never a real one
        pytest.fail(f"{POLICY_DIR / 'policy.json'} exists: a live policy changes what this test checks. "
                    "Run it where none is installed.")
    policy = POLICY_DIR / "policy.json"
    made_policy_dir = not POLICY_DIR.exists()
    try:
        r = subprocess.run(["dpkg", "-i", str(artifacts.deb)], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        assert _package_installed()
        assert LAUNCHER.is_symlink() and (INSTALL_DIR / "fireside").is_file()

        report = _assert_doctor(LAUNCHER, fireside_home)
        assert report["llama"]["backend"] == expected_backend()  # the bundle ships this venv's llama.cpp
        _assert_backends(LAUNCHER, report, tiny_gptoss_path, fireside_home)
        # keyring finds its backends frozen: SecretService loads and only then wants D-Bus.
        r = _run([LAUNCHER, "doctor", "--json"],
                 PYTHON_KEYRING_BACKEND="keyring.backends.SecretService.Keyring")
        keyring = json.loads(r.stdout)["keyring"]
        assert "No module named" not in keyring["status"], keyring
        assert "SecretService" in keyring["backend"] + keyring["status"], keyring

        # The admin pre-seeds a model, checked against its SHA-256; users find it by name.
        seed = tmp_path / shared_model.name
        shutil.copyfile(tiny_gptoss_path, seed)
        digest = hashlib.sha256(seed.read_bytes()).hexdigest()
        r = _run([LAUNCHER, "models", "import", "--shared", seed, "--sha256", digest], real_shared=True)
        assert r.returncode == 0, r.stderr
        assert shared_model.stat().st_mode & 0o777 == 0o644
        _assert_chat(LAUNCHER, Path(shared_model.name), real_shared=True)
        _assert_chat(LAUNCHER, tiny_gptoss_path, save=True)  # creates the user's conversation db
        db = fireside_home / "data" / "conversations.sqlite3"
        assert db.is_file()

        # The window: started through the launcher, it is painted and loads the model. The
        # start-up probe (fireside/ui/shell/startup_probe.py) reports both moments and then quits, so
        # the test waits on those events instead of a fixed time.
        r = _run([LAUNCHER, "--model", shared_model], timeout=120, real_shared=True,
                 FIRESIDE_STARTUP_PROBE="1")
        probes = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
        events = {e["probe"]: e for e in probes}
        assert r.returncode == 0, f"the window exited ({r.returncode}): {r.stderr[-2000:]}"
        assert "shown" in events, r.stderr[-2000:]
        assert "ready" in events, events.get("failed") or r.stderr[-2000:]
        assert events["ready"]["model_rss_bytes"] > 0  # the shared file is mapped, not copied

        # An admin's live policy is in place when the package goes (planted only now: it would
        # change what the runs above see).
        POLICY_DIR.mkdir(exist_ok=True)
        policy.write_text("{}\n")
        r = subprocess.run(["dpkg", "-r", "fireside"], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        assert not LAUNCHER.exists() and not (INSTALL_DIR / "fireside").exists()
        r = subprocess.run(["dpkg", "-P", "fireside"], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        assert not _package_installed()
        assert not INSTALL_DIR.exists()
        # Purge ran postrm for real: the admin's policy is still there, unchanged.
        assert policy.read_text() == "{}\n"
    finally:
        if _package_installed() or INSTALL_DIR.exists():
            subprocess.run(["dpkg", "-P", "fireside"], capture_output=True, timeout=300)
        policy.unlink(missing_ok=True)  # ours: the test refused to start with one in place
        if made_policy_dir:
            shutil.rmtree(POLICY_DIR, ignore_errors=True)

    # What belongs to people and the organisation is all still there.
    assert shared_model.read_bytes() == tiny_gptoss_path.read_bytes()
    with sqlite3.connect(db) as con:
        tables = {row[0] for row in con.execute("select name from sqlite_master where type='table'")}
    assert tables, "the conversation database must survive uninstall intact"
    assert (fireside_home / "config").is_dir()


def _run_env(cmd: list[str | Path], env: dict[str, str],
             timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                          env=env)


def _one_line(r: subprocess.CompletedProcess[str]) -> str:
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fireside: ") and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def test_bundle_downloads_over_https_with_one_trust_source(
    artifacts: Artifacts, fireside_home: Path, tiny_gptoss_path: Path, tmp_path: Path
) -> None:
    """The frozen app on a Hub that speaks HTTPS (core/net/tls.py): its OpenSSL was built elsewhere,
    so it must find this machine's CA store itself, trust SSL_CERT_FILE when an organisation sets
    it, and refuse an unknown CA, an expired certificate and another host's, in one line each."""
    launcher = artifacts.bundle / "fireside"
    repo, name = "ggml-org/gpt-oss-20b-GGUF", "gpt-oss-20b-mxfp4.gguf"
    data = tiny_gptoss_path.read_bytes()
    pki = make_pki(tmp_path / "pki")
    system = _clean_env(PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    for var in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        system.pop(var, None)
    trusting = {**system, "SSL_CERT_FILE": str(pki.ca_file)}

    report = json.loads(_run_env([launcher, "doctor", "--json"], system).stdout)
    assert report["tls"]["kind"] == "system", report["tls"]
    assert report["tls"]["ca_certificates"] > 50, report["tls"]  # the distribution's bundle, found

    def pull(env: dict[str, str], hub_url: str) -> subprocess.CompletedProcess[str]:
        return _run_env([launcher, "models", "pull", repo, name], {**env, "HF_ENDPOINT": hub_url})

    with HubServer({repo: {name: data}}, tls=pki.server_context("good")) as hub:
        r = pull(system, hub.hub_url)
        assert r.returncode == 1 and "not signed by an authority this computer trusts" in _one_line(r)
        r = pull(trusting, hub.hub_url)
        assert r.returncode == 0, r.stderr[-2000:]
        assert (fireside_home / "models" / repo / name).read_bytes() == data
        assert [q.range for q in hub.byte_requests()] == ["bytes=0-"]
    for kind, words in (("expired", "has expired"), ("other_host", "belongs to another server"),
                        ("untrusted", "not signed by an authority this computer trusts")):
        with HubServer({repo: {name + "2": data}}, tls=pki.server_context(kind)) as hub:
            r = _run_env([launcher, "models", "pull", repo, name + "2"],
                         {**trusting, "HF_ENDPOINT": hub.hub_url})
            assert r.returncode == 1 and words in _one_line(r), (kind, r.stderr)
            assert hub.byte_requests() == []


def test_bundle_without_a_display_says_so_in_one_line(artifacts: Artifacts, fireside_home: Path) -> None:
    env = {k: v for k, v in _clean_env().items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    r = _run_env([artifacts.bundle / "fireside"], env, timeout=60)
    assert r.returncode == 2 and "needs a graphical session" in _one_line(r), r.stderr[-2000:]
