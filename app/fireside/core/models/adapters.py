"""LoRA adapters as files: checked in pure Python before llama.cpp sees them, kept in a folder.

llama.cpp's `llama_adapter_lora_init` (src/llama-adapter.cpp) refuses most bad adapters with an
error, but it reads `general.type`, `adapter.type` and `adapter.lora.alpha` with gguf getters that
*assert* on the value's type (a float64 alpha would abort the whole process), and a wrong
expert-tensor shape is not checked there at all. So every adapter is read here first:

- a GGUF whose `general.type` is "adapter" and `adapter.type` is "lora", with a float32 alpha;
- tensors in `<base tensor>.lora_a` / `.lora_b` pairs (norm vectors, which llama.cpp skips, are
  allowed); nothing else, as llama.cpp throws on any other suffix;
- against the model it is meant for: the same `general.architecture`, every pair naming a base
  tensor, with llama.cpp's shapes in GGUF dimension order (ne): lora_a [n_in, rank],
  lora_b [rank, n_out] for a base weight [n_in, n_out] (for `token_embd` A and B are swapped);
  expert tensors (3-D) must also agree on the number of experts;
- the whole file present (read_gguf refuses a file that ends before its last tensor).

Installed adapters live in their own folder (Paths.adapters), as links or copies of the user's
files, so they never show up as models.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from fireside.core.chat.conversation import AdapterUse
from fireside.core.models.gguf_info import GGUFError, GGUFInfo, TensorInfo, read_gguf
from fireside.core.units import human_bytes

_STRING, _FLOAT32 = 8, 6
MAX_SCALE = 100.0  # llama.cpp takes any float; past this an adapter only produces noise


class AdapterError(ValueError):
    """The adapter cannot be used; the message is one sentence for the person."""


@dataclass(frozen=True)
class AdapterInfo:
    """What a person wants to know about an adapter file, read without loading it."""

    path: Path
    architecture: str
    rank: int
    alpha: float
    size: int
    pairs: dict[str, tuple[TensorInfo, TensorInfo]]  # base tensor name -> (lora_a, lora_b)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def targets(self) -> tuple[str, ...]:
        """The kinds of weight adapted, e.g. ("attn_q", "attn_v"), in the order of first use."""
        kinds: dict[str, None] = {}
        for base in self.pairs:
            parts = base.removesuffix(".weight").split(".")
            kinds[parts[2] if parts[0] == "blk" and len(parts) > 2 else parts[0]] = None
        return tuple(kinds)

    @property
    def adapts_experts(self) -> bool:
        return any(len(a.shape) == 3 for a, _ in self.pairs.values())

    def summary(self) -> str:
        return (f"{self.name}: LoRA for {self.architecture}, rank {self.rank}, alpha {self.alpha:g}, "
                f"{human_bytes(self.size)}, adapts {', '.join(self.targets)}")


def read_adapter(path: str | Path) -> AdapterInfo:
    """Parse and check an adapter on its own; AdapterError says what is wrong."""
    p = Path(path)
    try:
        g = read_gguf(p)
    except GGUFError as e:
        raise AdapterError(str(e)) from None
    name = p.name
    for key in ("general.type", "general.architecture", "adapter.type"):
        if key in g.value_types and g.value_types[key] != _STRING:
            raise AdapterError(f"{name} is damaged: its {key} is not text.")
    kind = g.get("general.type", "model")
    if kind == "model":
        raise AdapterError(f"{name} is a model, not an adapter.")
    if kind != "adapter":
        raise AdapterError(f"{name} is not a LoRA adapter (its type is {kind!r}).")
    if g.get("adapter.type") != "lora":
        raise AdapterError(f"{name} is a {g.get('adapter.type') or 'untyped'} adapter; Fireside uses "
                           "LoRA adapters only.")
    alpha = g.get("adapter.lora.alpha", 0.0)
    if "adapter.lora.alpha" in g.value_types and (
            g.value_types["adapter.lora.alpha"] != _FLOAT32 or not math.isfinite(alpha)):
        raise AdapterError(f"{name} is damaged: its LoRA alpha is not a 32-bit number.")
    if "adapter.alora.invocation_tokens" in g.metadata:
        # llama.cpp's server switches these on only after their invocation tokens; Fireside would
        # apply them to the whole conversation, which is not what they were trained for
        raise AdapterError(f"{name} is an activated LoRA (aLoRA), which Fireside does not support.")
    if not g.architecture:
        raise AdapterError(f"{name} does not say which model architecture it adapts.")
    halves: dict[str, dict[str, TensorInfo]] = {}
    for t in g.tensors:
        if t.name.endswith((".lora_a", ".lora_b")):
            halves.setdefault(t.name[:-7], {})[t.name[-1]] = t
        elif not t.name.endswith("_norm.weight"):
            raise AdapterError(f"{name} holds a tensor that is not part of a LoRA ({t.name}).")
    pairs: dict[str, tuple[TensorInfo, TensorInfo]] = {}
    ranks: set[int] = set()
    for base, ab in sorted(halves.items()):
        if set(ab) != {"a", "b"}:
            raise AdapterError(f"{name} is damaged: {base} has only one of its two LoRA halves.")
        a, b = ab["a"], ab["b"]
        if len(a.shape) != len(b.shape) or len(a.shape) not in (2, 3):
            raise AdapterError(f"{name} is damaged: the LoRA tensors of {base} have unusable shapes.")
        # token_embd's halves are swapped (llama.cpp: llm_build_inp_embd): A [rank, n_vocab]
        rank = a.shape[0] if base.endswith("token_embd.weight") else a.shape[1]
        if b.shape[0] != rank:
            raise AdapterError(f"{name} has a LoRA for {base} whose halves disagree on the rank "
                               f"({rank} and {b.shape[0]}); it may be from an older format.")
        ranks.add(rank)
        pairs[base] = (a, b)
    if not pairs:
        raise AdapterError(f"{name} contains no LoRA weights.")
    return AdapterInfo(p, g.architecture, max(ranks), float(alpha), g.file_size, pairs)


def check_fits(adapter: AdapterInfo, base: GGUFInfo) -> None:
    """Refuse an adapter that was not made for `base` (architecture, tensor names and shapes)."""
    name = adapter.name
    if adapter.architecture != base.architecture:
        raise AdapterError(f"{name} was made for {adapter.architecture} models, not for "
                           f"{base.name} ({base.architecture}).")
    weights = {t.name: t for t in base.tensors}
    for target, (a, b) in adapter.pairs.items():
        w = weights.get(target)
        if w is None:
            raise AdapterError(f"{name} adapts {target}, which {base.name} does not have: it was "
                               "made for another model.")
        if target.endswith("token_embd.weight"):
            fits = len(w.shape) == 2 and w.shape[0] == b.shape[1] and w.shape[1] == a.shape[1]
        else:
            fits = (len(w.shape) == len(a.shape) and w.shape[0] == a.shape[0]
                    and w.shape[1] == b.shape[1] and w.shape[2:] == a.shape[2:] == b.shape[2:])
        if not fits:
            raise AdapterError(f"{name} does not fit {base.name}: its LoRA for {target} has the "
                               "wrong shape (it was made for a model of another size).")


def check_adapter(path: str | Path, base: GGUFInfo) -> AdapterInfo:
    """read_adapter, then check_fits: what must hold before llama.cpp is given the file."""
    info = read_adapter(path)
    check_fits(info, base)
    return info


def parse_scale(text: str) -> float:
    try:
        scale = float(text)
    except ValueError:
        raise AdapterError(f"{text!r} is not a scale: give a number such as 0.5 or 1.") from None
    if not math.isfinite(scale) or abs(scale) > MAX_SCALE:
        raise AdapterError(f"An adapter's scale must be between -{MAX_SCALE:g} and {MAX_SCALE:g}.")
    return scale


def split_spec(spec: str) -> tuple[str, float]:
    """"FILE_OR_NAME[:SCALE]" -> (file or name, scale); a Windows drive colon is not a scale."""
    head, sep, tail = spec.rpartition(":")
    if sep and head and not ("/" in tail or "\\" in tail) and len(head) > 1:
        return head, parse_scale(tail)
    return spec, 1.0


# -- the adapters folder ------------------------------------------------------------------------
def list_adapters(folder: Path) -> list[tuple[Path, AdapterInfo | AdapterError]]:
    """Every GGUF in `folder`, with what it is or why it cannot be used."""
    if not folder.is_dir():
        return []
    out: list[tuple[Path, AdapterInfo | AdapterError]] = []
    for p in sorted(folder.glob("*.gguf")):
        try:
            out.append((p, read_adapter(p)))
        except AdapterError as e:
            out.append((p, e))
    return out


def find_adapter(folder: Path, name_or_path: str) -> Path:
    """An existing file given by path, or an installed adapter by file name (".gguf" optional)."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path.resolve()
    for candidate in (name_or_path, f"{name_or_path}.gguf"):
        p = folder / candidate
        if Path(candidate).name == candidate and (p.is_file() or p.is_symlink()):
            return p
    raise AdapterError(f"No adapter file or installed adapter called {name_or_path!r}. "
                       "`fireside models list` shows the installed ones.")


def import_adapter(folder: Path, source: Path, *, copy: bool) -> tuple[Path, AdapterInfo]:
    """Check first (a broken adapter is never added), then link or copy into `folder`."""
    info = read_adapter(source)
    dest = folder / source.name
    if dest.exists() or dest.is_symlink():
        raise AdapterError(f"An adapter called {source.name} is already installed; remove it first.")
    folder.mkdir(parents=True, exist_ok=True)
    try:
        if copy:
            tmp = dest.with_name(dest.name + ".copying")
            shutil.copyfile(source, tmp)
            os.replace(tmp, dest)
        else:
            dest.symlink_to(source.resolve())
    except OSError as e:
        raise AdapterError(f"Could not add {source.name} to {folder} ({e.strerror or e}); "
                           + ("check the disk." if copy else "import it with --copy instead.")) from None
    return dest, info


def adopt_download(folder: Path, downloaded: Path) -> tuple[Path, AdapterInfo]:
    """Move a finished download into `folder` once it checks out as an adapter (else delete it)."""
    try:
        info = read_adapter(downloaded)
    except AdapterError as e:
        downloaded.unlink(missing_ok=True)
        raise AdapterError(f"The download is not a usable adapter, so it was deleted: {e}") from None
    dest = folder / downloaded.name
    os.replace(downloaded, dest)
    return dest, AdapterInfo(dest, info.architecture, info.rank, info.alpha, info.size, info.pairs)


def remove_adapter(folder: Path, name: str) -> Path:
    """Remove an installed adapter (the link only, for a linked one)."""
    for candidate in (name, f"{name}.gguf"):
        p = folder / candidate
        if Path(candidate).name == candidate and (p.is_file() or p.is_symlink()):
            p.unlink()
            return p
    raise AdapterError(f"No installed adapter called {name!r}. `fireside models list` shows them.")


def resolve_uses(specs: Iterable[str], folder: Path) -> tuple[AdapterUse, ...]:
    """Turn "FILE_OR_NAME[:SCALE]" strings into AdapterUses, refusing the same adapter twice."""
    uses: list[AdapterUse] = []
    for spec in specs:
        target, scale = split_spec(spec.strip())
        path = str(find_adapter(folder, target))
        if any(os.path.realpath(u.path) == os.path.realpath(path) for u in uses):
            raise AdapterError(f"{Path(path).name} is given twice; give it once with the scale you want.")
        uses.append(AdapterUse(path, scale))
    return tuple(uses)
