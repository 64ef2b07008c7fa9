"""The python tool's limits: what a call may use, with the defaults the model is told about.

Standard library only: the sandbox's child process reads these too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

GIB = 1024**3
KIB = 1024

DEFAULT_WALL_TIME_S = 120.0  # the model is told this; the parent kills the process past it
DEFAULT_CPU_TIME_S = 120.0  # per call, RLIMIT_CPU in the child (threads add up, so it can bite first)
DEFAULT_MEMORY_BYTES = 4 * GIB  # RLIMIT_AS: the model itself needs the rest of the machine
DEFAULT_OUTPUT_BYTES = 64 * KIB  # what the model reads back; more is cut, and it says so
DEFAULT_FILE_SIZE_BYTES = 1 * GIB  # RLIMIT_FSIZE: one file in the work folder at most this big


@dataclass(frozen=True)
class SandboxLimits:
    """Per-call limits of the python tool; each is a user setting."""

    wall_time_s: float = DEFAULT_WALL_TIME_S
    cpu_time_s: float = DEFAULT_CPU_TIME_S
    memory_bytes: int = DEFAULT_MEMORY_BYTES
    output_bytes: int = DEFAULT_OUTPUT_BYTES
    file_size_bytes: int = DEFAULT_FILE_SIZE_BYTES

    def __post_init__(self) -> None:
        checks = (
            ("time limit", self.wall_time_s, 0.1),
            ("CPU time limit", self.cpu_time_s, 1.0),
            ("memory limit", self.memory_bytes, 64 * 1024**2),
            ("output limit", self.output_bytes, 256),
            ("file size limit", self.file_size_bytes, 1024),
        )
        for name, value, least in checks:
            if not value >= least:  # also catches NaN
                raise ValueError(f"The python tool's {name} must be at least {least:g}, not {value!r}.")

    def as_json(self) -> dict[str, float | int]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, float | int]) -> SandboxLimits:
        d = DEFAULT_LIMITS
        return cls(
            wall_time_s=float(data.get("wall_time_s", d.wall_time_s)),
            cpu_time_s=float(data.get("cpu_time_s", d.cpu_time_s)),
            memory_bytes=int(data.get("memory_bytes", d.memory_bytes)),
            output_bytes=int(data.get("output_bytes", d.output_bytes)),
            file_size_bytes=int(data.get("file_size_bytes", d.file_size_bytes)),
        )


DEFAULT_LIMITS = SandboxLimits()


def describe_for_model(limits: SandboxLimits = DEFAULT_LIMITS) -> dict[str, str]:
    """The limits as the tool description states them (figures a person reads, e.g. '120 seconds')."""
    return {
        "timeout": f"{limits.wall_time_s:g} seconds",
        "memory": _size(limits.memory_bytes),
        "output": _size(limits.output_bytes),
    }


def _size(n: int) -> str:
    for unit, scale in (("GiB", GIB), ("MiB", 1024**2), ("KiB", KIB)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} bytes"
