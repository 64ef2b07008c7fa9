"""Downloads against the local Hub look-alike: faults, retries, verification, resume, disk space."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections import namedtuple
from pathlib import Path

import pytest

from fireside.core.models import downloads
from fireside.core.models.downloads import Downloader, DownloadError, Progress, _Speed, partial_paths
from fireside.core.models.hub import HubError, remote_file
from tests.helpers.hf_server import FakeHub, HubServer

REPO, FILE = "ggml-org/gpt-oss-20b-GGUF", "gpt-oss-20b-mxfp4.gguf"
DATA = os.urandom(3_000_000)


@pytest.fixture
def hub():
    with HubServer({REPO: {FILE: DATA, "README.md": b"# hi"}}) as state:
        yield state


def _models(home: Path) -> Path:
    return home / "models"


def _run(hub: FakeHub, home: Path, **kw) -> tuple[Path, list[Progress]]:
    seen: list[Progress] = []
    kw = {"stall_timeout": 5.0, "backoff_base": 0.05, **kw}
    dl = Downloader(_models(home), on_progress=seen.append, **kw)
    remote = remote_file(REPO, FILE, endpoint=hub.hub_url, token=kw.get("token"))
    return dl.download(remote), seen


def test_happy_path_verifies_and_moves_into_models(hub: FakeHub, fireside_home: Path):
    path, seen = _run(hub, fireside_home)
    assert path == _models(fireside_home) / "ggml-org" / "gpt-oss-20b-GGUF" / FILE
    assert path.read_bytes() == DATA
    assert not list((_models(fireside_home) / ".partial").iterdir())
    assert seen[-1].phase == "done" and seen[-1].done == len(DATA)
    assert any(p.phase == "verifying" for p in seen)
    assert [r.range for r in hub.byte_requests()] == ["bytes=0-"]


def test_dropped_connection_retries_and_resumes_where_it_stopped(hub: FakeHub, fireside_home: Path):
    hub.faults.drop_after_bytes, hub.faults.drops = 1_000_000, 2
    path, seen = _run(hub, fireside_home)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(DATA).hexdigest()
    ranges = [r.range for r in hub.byte_requests()]
    assert ranges[0] == "bytes=0-" and len(ranges) == 3
    starts = [int(r.split("=")[1].rstrip("-")) for r in ranges]
    assert starts[1] > 0 and starts[2] > starts[1]  # never from zero again
    assert any(p.phase == "retrying" and "dropped" in p.message for p in seen)


def test_a_server_that_ignores_range_restarts_cleanly(hub: FakeHub, fireside_home: Path):
    hub.faults.drop_after_bytes, hub.faults.drops = 1_000_000, 1
    hub.faults.ignore_range = True
    path, _seen = _run(hub, fireside_home)
    assert path.read_bytes() == DATA  # the 200 after a drop overwrote the part, hash and all
    assert len(hub.byte_requests()) == 2


def test_5xx_answers_retry_with_a_notice(hub: FakeHub, fireside_home: Path):
    hub.faults.errors_5xx = 2
    path, seen = _run(hub, fireside_home)
    assert path.read_bytes() == DATA
    notices = [p.message for p in seen if p.phase == "retrying"]
    assert len(notices) == 2 and "HTTP 503" in notices[0]


def test_gives_up_after_retry_budget_but_keeps_progress(hub: FakeHub, fireside_home: Path):
    hub.faults.errors_5xx = 100
    with pytest.raises(DownloadError) as e:
        _run(hub, fireside_home, max_retries=2)
    assert e.value.kind == "network" and "resume later" in str(e.value)
    assert len(hub.byte_requests()) == 3


def test_stall_is_detected_and_retried(hub: FakeHub, fireside_home: Path):
    hub.faults.stall_after_bytes, hub.faults.stalls, hub.faults.stall_seconds = 500_000, 1, 3.0
    started = time.monotonic()
    seen: list[Progress] = []
    dl = Downloader(_models(fireside_home), stall_timeout=1.0, backoff_base=0.05,
                    on_progress=seen.append)
    dl.stall_notice = 0.4
    path = dl.download(remote_file(REPO, FILE, endpoint=hub.hub_url))
    assert path.read_bytes() == DATA
    assert time.monotonic() - started < 3.0  # did not wait for the server to wake up
    assert any("stalled" in p.message for p in seen if p.phase == "retrying")
    during = [p for p in seen if p.phase == "downloading" and p.stalled]
    assert during and all(p.speed == 0 and p.eta_s is None for p in during)
    assert {p.done for p in during} == {500_000}  # flagged exactly where the server went quiet


def test_speed_falls_to_zero_during_a_stall():
    s = _Speed()
    assert s.add(0.0, 0) == 0.0
    assert s.add(1.0, 1_000_000) == pytest.approx(1_000_000)
    assert s.add(2.0, 2_000_000) > 0
    assert s.add(5.5, 2_000_000) == 0.0  # nothing arrived in the whole window


def test_corruption_is_caught_and_only_the_bad_download_deleted(hub: FakeHub, fireside_home: Path):
    other = _models(fireside_home) / "mine.gguf"
    other.parent.mkdir(parents=True)
    other.write_bytes(b"keep me")
    hub.faults.corrupt = True
    with pytest.raises(DownloadError) as e:
        _run(hub, fireside_home)
    assert e.value.kind == "verify"
    assert "does not match" in str(e.value) and "deleted" in str(e.value)
    assert other.read_bytes() == b"keep me"
    assert [p for p in _models(fireside_home).rglob("*") if p.is_file()] == [other]


def test_private_repo_needs_token_and_token_never_reaches_cdn(fireside_home: Path):
    with HubServer({REPO: {FILE: DATA}}, token="hf_secret_value") as hub:
        with pytest.raises(HubError) as e:
            remote_file(REPO, FILE, endpoint=hub.hub_url)
        assert e.value.kind == "auth" and "needs a Hugging Face token" in str(e.value)
        remote = remote_file(REPO, FILE, endpoint=hub.hub_url, token="hf_secret_value")
        with pytest.raises(DownloadError) as e2:
            Downloader(_models(fireside_home), backoff_base=0.01).download(remote)
        assert e2.value.kind == "auth"
        path = Downloader(_models(fireside_home), token="hf_secret_value").download(remote)
        assert path.read_bytes() == DATA
        assert hub.byte_requests() and not any(r.authorization for r in hub.byte_requests())
        assert not any("hf_secret_value" in p.read_text(errors="ignore")
                       for p in fireside_home.rglob("*") if p.is_file() and p.suffix != ".gguf")


def test_not_enough_disk_says_how_much(hub: FakeHub, fireside_home: Path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(downloads.shutil, "disk_usage", lambda p: usage(10**9, 10**9, 1_000_000))
    with pytest.raises(DownloadError) as e:
        _run(hub, fireside_home)
    assert e.value.kind == "disk"
    assert "needs 3.0 MB more" in str(e.value) and "only 1.0 MB is free" in str(e.value)
    assert hub.byte_requests() == []


def test_pause_then_resume_asks_only_for_the_rest(hub: FakeHub, fireside_home: Path):
    hub.faults.hold_at(1_000_000)  # the pause lands before the rest is sent, however slow we are
    remote = remote_file(REPO, FILE, endpoint=hub.hub_url)
    dl = Downloader(_models(fireside_home))
    dl.on_progress = lambda p: dl.pause.set() if p.done > 500_000 else None
    with pytest.raises(DownloadError) as e:
        dl.download(remote)
    assert e.value.kind == "paused"
    part, meta = partial_paths(_models(fireside_home), remote)
    kept = part.stat().st_size
    assert 500_000 < kept <= 1_000_000 and meta.exists()
    hub.faults.release()
    path = Downloader(_models(fireside_home)).download(remote)
    assert path.read_bytes() == DATA
    assert hub.byte_requests()[-1].range == f"bytes={kept}-"


def test_cancel_deletes_the_partial_file(hub: FakeHub, fireside_home: Path):
    hub.faults.hold_at(1_000_000)  # released when the hub closes: the cancel lands first
    remote = remote_file(REPO, FILE, endpoint=hub.hub_url)
    dl = Downloader(_models(fireside_home))
    dl.on_progress = lambda p: dl.cancel.set() if p.done > 200_000 else None
    with pytest.raises(DownloadError) as e:
        dl.download(remote)
    assert e.value.kind == "cancelled"
    part, meta = partial_paths(_models(fireside_home), remote)
    assert not part.exists() and not meta.exists()


_CHILD = """
import sys
from pathlib import Path
from fireside.core.models.downloads import Downloader
from fireside.core.models.hub import remote_file
remote = remote_file(sys.argv[1], sys.argv[2])
print(Downloader(Path(sys.argv[3])).download(remote), flush=True)
"""


def test_resume_after_sigkill_requests_only_the_missing_range(hub: FakeHub, fireside_home: Path):
    hub.faults.hold_at(1_500_000)  # the child cannot finish before it is killed
    models = _models(fireside_home)
    env = {**os.environ, "HF_ENDPOINT": hub.hub_url}
    cmd = [sys.executable, "-c", _CHILD, REPO, FILE, str(models)]
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    part = models / ".partial" / f"{REPO.replace('/', '--')}--{FILE}.part"
    assert hub.faults.held.wait(60), "the child never reached the held byte"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not part.exists() or part.stat().st_size < 1_000_000):
        time.sleep(0.02)  # sleep-ok: polling the child's progress on disk
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=10)
    kept = part.stat().st_size
    assert 1_000_000 <= kept <= 1_500_000
    hub.faults.release()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).read_bytes() == DATA
    ranges = [r.range for r in hub.byte_requests()]
    assert ranges == ["bytes=0-", f"bytes={kept}-"]
