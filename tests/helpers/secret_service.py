"""A real Secret Service for keyring tests: a private D-Bus session bus with gnome-keyring on it.

This is what keyring talks to on a Linux desktop (keyring.backends.SecretService, through
secretstorage and jeepney), so a token stored in a test really goes through D-Bus into
gnome-keyring's encrypted store and comes back the same way. The bus and the daemon are this
test's own (their sockets and the keyring files live in a temporary folder), so the user's real
keyring is never touched; both processes are stopped at the end.

scripts/system-deps.sh --test installs the two programs (Debian packages dbus-daemon,
gnome-keyring).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from jeepney import MatchRule, message_bus
from jeepney.io.blocking import open_dbus_connection

SECRETS_NAME = "org.freedesktop.secrets"
START_TIMEOUT_S = 60.0  # a loaded two-core machine; the daemon is usually up in well under a second


def missing_tools() -> list[str]:
    return [t for t in ("dbus-daemon", "gnome-keyring-daemon") if shutil.which(t) is None]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def secret_service(root: Path) -> Iterator[str]:
    """Run a session bus and an unlocked gnome-keyring under `root`; yields the bus address.

    Set DBUS_SESSION_BUS_ADDRESS to it for keyring's SecretService backend to use this service.
    """
    runtime = root / "run"
    runtime.mkdir(mode=0o700, parents=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root),
        "XDG_RUNTIME_DIR": str(runtime),
        "XDG_DATA_HOME": str(root / "data"),  # gnome-keyring keeps its keyring files here
        "XDG_CONFIG_HOME": str(root / "config"),
    }
    address = f"unix:path={runtime / 'bus'}"
    bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--nopidfile", f"--address={address}",
                            "--print-address=1"], stdout=subprocess.PIPE, env=env)
    keyring_daemon: subprocess.Popen[bytes] | None = None
    try:
        assert bus.stdout is not None
        printed = bus.stdout.readline().decode().strip()  # printed once the bus listens
        assert printed.startswith(address), f"dbus-daemon did not start: {printed!r}"
        env["DBUS_SESSION_BUS_ADDRESS"] = address
        with open_dbus_connection(bus=address) as conn:
            # Wait for the daemon to take its name on the bus: subscribe first, then start it.
            rule = MatchRule(type="signal", sender=message_bus.bus_name, interface=message_bus.interface,
                             member="NameOwnerChanged", path=message_bus.object_path)
            rule.add_arg_condition(0, SECRETS_NAME)
            conn.send_and_get_reply(message_bus.AddMatch(rule))
            with conn.filter(rule) as owners:
                keyring_daemon = subprocess.Popen(
                    ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
                    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
                assert keyring_daemon.stdin is not None
                keyring_daemon.stdin.write(b"test-password")  # unlocks (creates) its login keyring
                keyring_daemon.stdin.close()
                conn.recv_until_filtered(owners, timeout=START_TIMEOUT_S)
        yield address
    finally:
        if keyring_daemon is not None:
            _stop(keyring_daemon)
        _stop(bus)
        if bus.stdout is not None:
            bus.stdout.close()
