"""Hub metadata through huggingface_hub against the local look-alike (and the look-alike itself)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from fireside.core.models.hub import HubError, list_gguf_files, remote_file
from tests.helpers.hf_server import COMMIT, HubServer

DATA = b"GGUF" + bytes(range(256)) * 100


@pytest.fixture
def hub():
    with HubServer({"org/m-GGUF": {"m-Q4.gguf": DATA, "m-Q8.gguf": DATA[::-1],
                                   "README.md": b"# m"}}) as state:
        yield state


def test_real_huggingface_hub_client_downloads_from_the_fake(hub, tmp_path: Path):
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url

    url = hf_hub_url("org/m-GGUF", "m-Q4.gguf", endpoint=hub.hub_url)
    meta = get_hf_file_metadata(url, token=False, endpoint=hub.hub_url)
    assert meta.commit_hash == COMMIT and meta.size == len(DATA)
    assert meta.etag == hashlib.sha256(DATA).hexdigest()
    path = hf_hub_download("org/m-GGUF", "m-Q4.gguf", endpoint=hub.hub_url,
                           cache_dir=tmp_path, token=False)
    assert Path(path).read_bytes() == DATA


def test_remote_file_pins_commit_and_lfs_sha(hub):
    r = remote_file("org/m-GGUF", "m-Q4.gguf", endpoint=hub.hub_url)
    assert r.revision == COMMIT and r.size == len(DATA)
    assert r.sha256 == hashlib.sha256(DATA).hexdigest()
    assert r.url == f"{hub.hub_url}/org/m-GGUF/resolve/{COMMIT}/m-Q4.gguf"


def test_list_gguf_files_skips_other_files(hub):
    names = [f.filename for f in list_gguf_files("org/m-GGUF", endpoint=hub.hub_url)]
    assert names == ["m-Q4.gguf", "m-Q8.gguf"]


def test_missing_file_names_the_ones_that_exist(hub):
    with pytest.raises(HubError) as e:
        remote_file("org/m-GGUF", "nope.gguf", endpoint=hub.hub_url)
    assert e.value.kind == "not_found" and "m-Q4.gguf" in str(e.value)


def test_missing_repo_and_bad_repo_id(hub):
    with pytest.raises(HubError) as e:
        remote_file("org/other", "x.gguf", endpoint=hub.hub_url)
    assert e.value.kind == "not_found"
    with pytest.raises(HubError) as e2:
        remote_file("just-a-name", "x.gguf", endpoint=hub.hub_url)
    assert "owner/name" in str(e2.value)


def test_unreachable_hub_is_one_sentence():
    with pytest.raises(HubError) as e:
        remote_file("org/m", "x.gguf", endpoint="http://127.0.0.1:9")
    assert e.value.kind == "network" and "Could not reach" in str(e.value)
