"""The sandbox confines an unprivileged user, as users are (CI runs as root, which proves nothing).

Under root the probe runs as uid/gid 65534 (nobody) through `setpriv`, a real unprivileged user
with no capabilities, on Debian's /usr/bin/python3 (the venv's Python lives in root's home, which
nobody cannot read) with a world-readable copy of the package's standard-library-only modules.
The probe first shows that this user CAN write the shared folder and connect to the listener
(so a pass is the sandbox's doing, not file permissions), then runs the same inside the sandbox.
Run by an unprivileged user already, the probe runs as that user.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import fireside

SYSTEM_PYTHON = "/usr/bin/python3"  # scripts/system-deps.sh --test installs it
NOBODY = 65534
PACKAGE_FILES = ("__init__.py", "core/__init__.py", "core/tools/__init__.py", "core/tools/isolation.py",
                 "core/tools/limits.py", "core/tools/process_tree.py", "core/tools/python_sandbox.py",
                 "core/tools/sandbox_child.py")


@pytest.fixture
def shared_tree() -> Iterator[Path]:
    """A folder every user can read (pytest's tmp_path is root-only), removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="fireside-nobody-"))
    try:
        root.chmod(0o755)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_an_unprivileged_user_is_confined(shared_tree: Path) -> None:
    assert Path(SYSTEM_PYTHON).is_file(), "install python3 (scripts/system-deps.sh --test)"
    src = Path(fireside.__file__).parent
    for rel in PACKAGE_FILES:
        dest = shared_tree / "app" / "fireside" / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / rel, dest)
    probe = shared_tree / "probe.py"
    shutil.copyfile(Path(__file__).with_name("unprivileged_probe.py"), probe)
    for p in shared_tree.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    work, shared = shared_tree / "work", shared_tree / "shared"
    work.mkdir()
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)  # anyone may write here: only the sandbox can stop the write

    as_user: list[str] = []
    if os.geteuid() == 0:
        assert shutil.which("setpriv"), "setpriv (util-linux) is needed to drop to an unprivileged user"
        os.chown(work, NOBODY, NOBODY)
        as_user = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(shared_tree / "app"), "LANG": "C.UTF-8"}
        done = subprocess.run([*as_user, SYSTEM_PYTHON, "-B", str(probe), str(work), str(shared), str(port)],
                              cwd=shared_tree, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
        listener.setblocking(False)
        conn, _ = listener.accept()  # the control connection
        conn.close()
        with pytest.raises(BlockingIOError):
            listener.accept()  # and no other
    r = json.loads(done.stdout)

    expected_uid = NOBODY if as_user else os.geteuid()
    assert r["uid"] == r["euid"] == expected_uid and r["uid"] != 0
    assert r["inside_uid"]["output"] == str(expected_uid)
    assert r["control_write"] and r["control_connect"]
    iso = r["isolation"]
    assert iso["enforced"] and iso["filesystem"] and iso["network_tcp"] and iso["network_sockets"], iso
    assert r["write_inside"] == {"output": "2", "error": False, "restarted": False}
    assert (work / "inside.txt").read_text() == "ok"
    assert r["write_shared"]["error"] and "PermissionError" in str(r["write_shared"]["output"])
    assert not (shared / "escape.txt").exists()
    assert r["connect"]["error"] and "PermissionError" in str(r["connect"]["output"])
    assert r["state_get"]["output"] == "42"
    assert r["memory"]["error"] and "MemoryError" in str(r["memory"]["output"])
    assert r["loop"]["error"] and r["loop"]["restarted"] and "time limit" in str(r["loop"]["output"])
    assert r["after_loop"]["output"].endswith("alive") and "restarted" in r["after_loop"]["output"]
