"""OS confinement of the python tool's child process, for an unprivileged user (no root, no setuid).

Three layers, applied by the child to itself before it runs any model-written code:
- Landlock (Linux >= 5.13; ABI 4 adds TCP, ABI 6 adds scopes): read-only access to the system and
  Python's own files, read-write only to the work folder and /dev/null; TCP bind and connect
  denied; abstract unix sockets and signals to processes outside the sandbox denied.
- seccomp (a raw BPF filter, no library): socket() fails for every address family, so UDP, raw
  and unix-path sockets are gone too; io_uring (which can open sockets past seccomp) is denied;
  foreign syscall ABIs (x32, 32-bit) are denied.
- resource limits: address space, CPU time (set per call by the REPL), file size, no core dumps.
Both Landlock and seccomp need PR_SET_NO_NEW_PRIVS, which any process may set on itself.

Standard library only (ctypes): the child imports this before anything else.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from functools import lru_cache

# Landlock syscalls have the same numbers on every architecture.
_SYS_LANDLOCK_CREATE_RULESET = 444
_SYS_LANDLOCK_ADD_RULE = 445
_SYS_LANDLOCK_RESTRICT_SELF = 446
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38
_PR_GET_SECCOMP = 21
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2

# Filesystem access rights, by the ABI that introduced them.
FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_TRUNCATE = 1 << 14  # ABI 3
FS_IOCTL_DEV = 1 << 15  # ABI 5
_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
_FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1

# seccomp: (AUDIT_ARCH, socket, io_uring_setup/enter/register) per machine.
_SECCOMP_ARCH = {
    "x86_64": (0xC000003E, (41, 425, 426, 427)),
    "aarch64": (0xC00000B7, (198, 425, 426, 427)),
}
_SECCOMP_RET_ALLOW = 0x7FFF0000
_SECCOMP_RET_ERRNO = 0x00050000

# What a Python process needs to read; the child adds its own prefixes and sys.path. Not all of
# /proc: other processes' command lines and environments (API keys) are none of the code's business.
SYSTEM_READ_PATHS = ("/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin", "/etc", "/opt", "/sys",
                     "/proc/self", "/proc/cpuinfo", "/proc/meminfo", "/proc/stat", "/proc/loadavg",
                     "/proc/uptime", "/proc/version", "/proc/filesystems", "/proc/sys/kernel", "/proc/sys/vm",
                     "/dev/zero", "/dev/urandom", "/dev/random", "/dev/full")

LAYERS = ("landlock-fs", "landlock-net", "landlock-scope", "seccomp", "rlimits")


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


@dataclass(frozen=True)
class IsolationReport:
    """Which isolations are (or would be) in force for the python tool, for doctor and the UI."""

    platform: str
    landlock_abi: int = 0  # 0: no Landlock
    filesystem: bool = False  # writes confined to the work folder
    network_tcp: bool = False  # Landlock denies TCP connect and bind
    network_sockets: bool = False  # seccomp denies socket() for every family
    scoped: bool = False  # no signals or abstract unix sockets to processes outside
    resource_limits: bool = False  # memory, CPU time, file size
    problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def network(self) -> bool:
        return self.network_tcp or self.network_sockets

    @property
    def enforced(self) -> bool:
        """No network and no writes outside the work folder: the python tool may be on by default."""
        return self.filesystem and self.network

    def as_json(self) -> dict[str, object]:
        return {**asdict(self), "problems": list(self.problems), "network": self.network,
                "enforced": self.enforced}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> IsolationReport:
        return cls(platform=str(data.get("platform", "")), landlock_abi=int(str(data.get("landlock_abi", 0))),
                   filesystem=data.get("filesystem") is True, network_tcp=data.get("network_tcp") is True,
                   network_sockets=data.get("network_sockets") is True, scoped=data.get("scoped") is True,
                   resource_limits=data.get("resource_limits") is True,
                   problems=tuple(str(p) for p in _as_list(data.get("problems"))))

    def lines(self) -> list[str]:
        """One sentence per isolation, as doctor prints them."""
        yes = "in force"
        ll = f"Landlock ABI {self.landlock_abi}" if self.landlock_abi else "no Landlock"
        out = [
            f"Writes outside the work folder: {'blocked (' + ll + ')' if self.filesystem else 'NOT blocked'}",
            "Network: " + (", ".join(
                x for x, on in (("TCP blocked by Landlock", self.network_tcp),
                                ("sockets blocked by seccomp", self.network_sockets)) if on)
                if self.network else "NOT blocked"),
            f"Signals and abstract sockets to other processes: {yes if self.scoped else 'not scoped'}",
            f"Memory, CPU time and file size limits: {yes if self.resource_limits else 'not available'}",
        ]
        if not self.enforced:
            out.append("The python tool is off by default here: " + ("; ".join(self.problems)
                                                                       or "isolation is incomplete."))
        return out


def _as_list(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else []


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    libc.prctl.restype = ctypes.c_int
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    return libc


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when there is none (or not Linux)."""
    if not sys.platform.startswith("linux"):
        return 0
    libc = _libc()
    abi = libc.syscall(ctypes.c_long(_SYS_LANDLOCK_CREATE_RULESET), None, ctypes.c_size_t(0),
                       ctypes.c_uint32(_LANDLOCK_CREATE_RULESET_VERSION))
    return max(int(abi), 0)


def seccomp_supported() -> bool:
    if not sys.platform.startswith("linux") or platform.machine() not in _SECCOMP_ARCH:
        return False
    return bool(_libc().prctl(_PR_GET_SECCOMP, 0, 0, 0, 0) >= 0)


@lru_cache(maxsize=1)
def isolation_report() -> IsolationReport:
    """What the python tool's child would be confined by on this machine (detection only, cheap)."""
    plat = f"{platform.system()} {platform.release()} {platform.machine()}"
    if not sys.platform.startswith("linux"):
        return IsolationReport(plat, resource_limits=os.name == "posix", problems=(
            "file and network isolation is only implemented on Linux (Landlock and seccomp)",))
    abi = landlock_abi()
    seccomp = seccomp_supported()
    problems = []
    if abi < 1:
        problems.append("the kernel has no Landlock (Linux 5.13 or later with Landlock enabled), "
                        "so writes outside the work folder cannot be blocked")
    if abi < 4 and not seccomp:
        problems.append("neither Landlock ABI 4 nor seccomp is available, so the network cannot be blocked")
    return IsolationReport(plat, landlock_abi=abi, filesystem=abi >= 1, network_tcp=abi >= 4,
                           network_sockets=seccomp, scoped=abi >= 6, resource_limits=True,
                           problems=tuple(problems))


# ---- the child's side: confine this very process -------------------------------------------------


def _fs_handled(abi: int) -> int:
    return _FS_BY_ABI[max(k for k in _FS_BY_ABI if k <= abi)]


def _add_path_rule(libc: ctypes.CDLL, ruleset_fd: int, path: str, dir_rights: int, handled: int) -> bool:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return False  # missing or unreadable for this user: nothing to allow
    try:
        rights = dir_rights if os.path.isdir(f"/proc/self/fd/{fd}") else dir_rights & _FILE_RIGHTS
        attr = _PathBeneathAttr(rights & handled, fd)
        rc = libc.syscall(ctypes.c_long(_SYS_LANDLOCK_ADD_RULE), ctypes.c_int(ruleset_fd),
                          ctypes.c_int(_LANDLOCK_RULE_PATH_BENEATH), ctypes.byref(attr), ctypes.c_uint32(0))
        if rc != 0:
            raise OSError(ctypes.get_errno(), f"landlock_add_rule({path}) failed")
        return True
    finally:
        os.close(fd)


def apply_landlock(read_paths: list[str], write_paths: list[str], *, filesystem: bool = True,
                   network: bool = True, scope: bool = True) -> dict[str, bool]:
    """Restrict this process (and everything it starts) for good; returns what took effect."""
    abi = landlock_abi()
    done = {"filesystem": False, "network_tcp": False, "scoped": False}
    if abi < 1 or not (filesystem or network or scope):
        return done
    libc = _libc()
    fs = _fs_handled(abi) if filesystem else 0
    net = NET_BIND_TCP | NET_CONNECT_TCP if network and abi >= 4 else 0
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if scope and abi >= 6 else 0
    if not (fs or net or scoped):
        return done
    attr = _RulesetAttr(fs, net, scoped)
    ruleset_fd = int(libc.syscall(ctypes.c_long(_SYS_LANDLOCK_CREATE_RULESET), ctypes.byref(attr),
                                  ctypes.c_size_t(ctypes.sizeof(attr)), ctypes.c_uint32(0)))
    if ruleset_fd < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        if fs:
            for path in read_paths:
                _add_path_rule(libc, ruleset_fd, path, FS_EXECUTE | FS_READ_FILE | FS_READ_DIR, fs)
            for path in write_paths:
                _add_path_rule(libc, ruleset_fd, path, fs, fs)
            _add_path_rule(libc, ruleset_fd, "/dev/null",
                           FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE | FS_IOCTL_DEV, fs)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        if libc.syscall(ctypes.c_long(_SYS_LANDLOCK_RESTRICT_SELF), ctypes.c_int(ruleset_fd),
                        ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset_fd)
    return {"filesystem": bool(fs), "network_tcp": bool(net), "scoped": bool(scoped)}


def _bpf_program(arch: int, denied: tuple[int, ...], x32_check: bool) -> list[_SockFilter]:
    ld_w_abs, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    deny = _SECCOMP_RET_ERRNO | errno.EPERM
    prog = [_SockFilter(ld_w_abs, 0, 0, 4),  # seccomp_data.arch
            _SockFilter(jeq, 1, 0, arch), _SockFilter(ret, 0, 0, deny),
            _SockFilter(ld_w_abs, 0, 0, 0)]  # seccomp_data.nr
    if x32_check:
        prog += [_SockFilter(jge, 0, 1, 0x40000000), _SockFilter(ret, 0, 0, deny)]
    for nr in denied:
        prog += [_SockFilter(jeq, 0, 1, nr), _SockFilter(ret, 0, 0, deny)]
    prog.append(_SockFilter(ret, 0, 0, _SECCOMP_RET_ALLOW))
    return prog


def apply_seccomp() -> bool:
    """Deny socket() and io_uring for this process and its children; False where unsupported."""
    machine = platform.machine()
    if not sys.platform.startswith("linux") or machine not in _SECCOMP_ARCH:
        return False
    arch, denied = _SECCOMP_ARCH[machine]
    insns = _bpf_program(arch, denied, x32_check=machine == "x86_64")
    array = (_SockFilter * len(insns))(*insns)
    prog = _SockFprog(len(insns), ctypes.cast(array, ctypes.POINTER(_SockFilter)))
    libc = _libc()
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    rc = libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0)
    if rc != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")
    return True


def apply_rlimits(memory_bytes: int, file_size_bytes: int) -> bool:
    """Address space and file size caps (hard, so the code cannot lift them); no core dumps."""
    try:
        import resource
    except ImportError:  # Windows
        return False
    applied = True
    for which, value in ((resource.RLIMIT_AS, memory_bytes), (resource.RLIMIT_FSIZE, file_size_bytes),
                         (resource.RLIMIT_CORE, 0)):
        try:
            _soft, hard = resource.getrlimit(which)
            if hard != resource.RLIM_INFINITY:
                value = min(value, hard)
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):  # macOS refuses some (RLIMIT_AS): say so, do not fail
            applied = False
    return applied


def read_paths_for_this_python(extra: list[str]) -> list[str]:
    """What the child must be able to read: the system, this interpreter and its import path."""
    paths = [*SYSTEM_READ_PATHS, sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.realpath(sys.executable)), *extra]
    paths += [p for p in sys.path if p and os.path.isabs(p)]
    seen: dict[str, None] = {}
    for p in paths:
        if not p.startswith("/proc/"):
            seen.setdefault(os.path.realpath(p), None)
        seen.setdefault(p, None)  # a symlinked prefix: allow the name and its target
    return list(seen)


def confine(work_dir: str, extra_read: list[str], layers: list[str], memory_bytes: int,
            file_size_bytes: int) -> IsolationReport:
    """Apply every layer asked for (see LAYERS) to this process; report what took effect."""
    problems: list[str] = []
    plat = f"{platform.system()} {platform.release()} {platform.machine()}"
    rl = False
    if "rlimits" in layers:
        rl = apply_rlimits(memory_bytes, file_size_bytes)
    seccomp = False
    if "seccomp" in layers:
        try:
            seccomp = apply_seccomp()
        except OSError as e:
            problems.append(f"seccomp could not be applied: {e}")
    ll = {"filesystem": False, "network_tcp": False, "scoped": False}
    try:
        ll = apply_landlock(read_paths_for_this_python(extra_read), [work_dir],
                            filesystem="landlock-fs" in layers, network="landlock-net" in layers,
                            scope="landlock-scope" in layers)
    except OSError as e:
        problems.append(f"Landlock could not be applied: {e}")
    if not ll["filesystem"] and "landlock-fs" in layers and not problems:
        problems.append("the kernel has no Landlock, so writes outside the work folder cannot be blocked")
    return IsolationReport(plat, landlock_abi=landlock_abi(), filesystem=ll["filesystem"],
                           network_tcp=ll["network_tcp"], network_sockets=seccomp, scoped=ll["scoped"],
                           resource_limits=rl, problems=tuple(problems))
