"""Run by test_unprivileged.py as an unprivileged user (uid 65534 under CI's root) with a plain
system python3: the escape checks, first without the sandbox (the control: this user CAN write
the shared folder and connect), then inside it. Prints one JSON object. Standard library only.

Usage: python3 unprivileged_probe.py WORK_DIR SHARED_DIR PORT
"""

from __future__ import annotations

import json
import os
import socket
import sys

from fireside.core.tools.limits import SandboxLimits
from fireside.core.tools.python_sandbox import PythonSandbox


def main() -> None:
    work, shared, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    result: dict[str, object] = {"uid": os.getuid(), "euid": os.geteuid()}
    with open(os.path.join(shared, "control.txt"), "w") as f:
        f.write("the user may write here")
    result["control_write"] = True
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        result["control_connect"] = True

    limits = SandboxLimits(wall_time_s=2, memory_bytes=256 * 2**20)
    with PythonSandbox(work, limits) as sb:
        sb.start()
        assert sb.isolation is not None
        result["isolation"] = sb.isolation.as_json()

        def run(code: str) -> dict[str, object]:
            out = sb.run(code)
            return {"output": out.output, "error": out.error, "restarted": out.restarted}

        result["inside_uid"] = run("import os; os.getuid()")
        result["write_inside"] = run("open('inside.txt', 'w').write('ok')")
        result["write_shared"] = run(f"open({os.path.join(shared, 'escape.txt')!r}, 'w').write('x')")
        result["connect"] = run(f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=5)")
        result["state_set"] = run("kept = 7")
        result["state_get"] = run("kept * 6")
        result["memory"] = run("b = bytearray(1024 * 2**20)")
        result["loop"] = run("while True: pass")
        result["after_loop"] = run("print('alive')")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
