"""The admin templates say what policy.py reads: every key, valid values, nothing dangling."""

from __future__ import annotations

import json
import plistlib
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from fireside.core.admin.policy import SCHEMA, _read_plist, load_policy

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "installer" / "policy"
ADMX = POLICY / "windows" / "Fireside.admx"
ADML = POLICY / "windows" / "en-US" / "Fireside.adml"
MOBILECONFIG = POLICY / "macos" / "com.fireside.Fireside.mobileconfig"
WXS = ROOT / "installer" / "windows" / "Fireside.wxs"
GP = "{http://schemas.microsoft.com/GroupPolicy/2006/07/PolicyDefinitions}"
WIX = "{http://wixtoolset.org/schemas/v4/wxs}"


def test_example_json_loads_without_problems_and_covers_every_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = POLICY / "policy.example.json"
    target = tmp_path / "policy.json"
    target.write_bytes(example.read_bytes())
    monkeypatch.setenv("FIRESIDE_POLICY_FILE", str(target))
    policy = load_policy()
    assert policy.problems == ()
    assert set(policy.values) == set(SCHEMA)
    assert {v.source for v in policy.values.values()} == {str(target)}
    # What the example shows is what an admin gets, not a fallback.
    assert all(v.valid for v in policy.values.values())
    assert policy.get("max_context") == json.loads(example.read_text())["max_context"]


def test_admx_has_a_policy_for_every_key_writing_the_json_key_name() -> None:
    admx = ET.parse(ADMX).getroot()
    written: dict[str, str] = {}  # registry value name -> how it is written
    for policy in admx.iter(f"{GP}policy"):
        assert policy.get("class") == "Machine"
        assert policy.get("key") == r"Software\Policies\Fireside"
        if policy.get("valueName"):
            written[policy.get("valueName", "")] = "dword"
        for el in policy.iter():
            if el is not policy and el.get("valueName"):
                written[el.get("valueName", "")] = el.tag.removeprefix(GP)
    assert set(written) == set(SCHEMA)
    # The registry types policy.py can parse for each key.
    assert written["shared_model_dirs"] == written["allowed_efforts"] == "multiText"
    assert written["max_context"] == "decimal"
    assert written["allowed_models"] == "text"  # JSON text
    assert written["default_effort"] == written["mcp_servers"] == "enum"
    assert written["allowed_mcp_servers"] == "multiText"
    assert written["allowed_models"] == written["allowed_adapters"] == "text"  # JSON text
    assert written["default_effort"] == "enum"
    for key in ("allow_model_downloads", "offline_only", "allow_keyring_tokens", "update_checks",
                "local_api_server_allowed", "local_api_server_remote_allowed", "tools_allowed",
                "python_tool_allowed", "tool_auto_approval_allowed"):
        assert written[key] == "dword"


def test_admx_references_all_resolve_in_the_adml() -> None:
    admx_text = ADMX.read_text(encoding="utf-8")
    adml = ET.parse(ADML).getroot()
    strings = {s.get("id") for s in adml.iter(f"{GP}string")}
    presentations = {p.get("id"): p for p in adml.iter(f"{GP}presentation")}
    used_strings = set(re.findall(r"\$\(string\.([^)]+)\)", admx_text))
    used_presentations = set(re.findall(r"\$\(presentation\.([^)]+)\)", admx_text))
    assert used_strings and used_presentations
    assert used_strings <= strings, f"missing strings: {used_strings - strings}"
    assert used_presentations <= set(presentations), "a presentation is missing"
    # Each element of a policy is shown by a control in its presentation, and vice versa.
    admx = ET.parse(ADMX).getroot()
    for policy in admx.iter(f"{GP}policy"):
        elements = policy.find(f"{GP}elements")
        ids = {e.get("id") for e in elements} if elements is not None else set()
        ref = re.match(r"\$\(presentation\.(.+)\)", policy.get("presentation", ""))
        refs = {c.get("refId") for c in presentations[ref.group(1)]} if ref else set()
        assert ids == refs, policy.get("name")
    # Enum values are exactly the efforts and MCP modes policy.py accepts.
    from fireside.core.admin.policy import EFFORTS, MCP_MODES

    enum_values = {s.text for s in admx.iter(f"{GP}string")}
    assert enum_values == set(EFFORTS) | set(MCP_MODES)


def test_mobileconfig_payload_parses_as_policy_without_problems(tmp_path: Path) -> None:
    profile = plistlib.loads(MOBILECONFIG.read_bytes())
    assert profile["PayloadType"] == "Configuration"
    assert profile["PayloadScope"] == "System"
    payload = profile["PayloadContent"][0]
    assert payload["PayloadType"] == "com.apple.ManagedClient.preferences"
    settings = payload["PayloadContent"]["com.fireside.Fireside"]["Forced"][0]["mcx_preference_settings"]
    # What macOS writes to /Library/Managed Preferences/com.fireside.Fireside.plist:
    managed = tmp_path / "com.fireside.Fireside.plist"
    managed.write_bytes(plistlib.dumps(settings))
    policy = load_policy([(str(managed), lambda: _read_plist(managed))])
    assert policy.problems == ()
    assert set(policy.values) == set(SCHEMA)
    uuids = [profile["PayloadUUID"], payload["PayloadUUID"]]
    assert len(set(uuids)) == 2 and all(re.fullmatch(r"[0-9A-F-]{36}", u) for u in uuids)


def test_macos_entitlements_plist_loads() -> None:
    entitlements = plistlib.loads((ROOT / "installer" / "macos" / "entitlements.plist").read_bytes())
    assert entitlements == {"com.apple.security.cs.allow-unsigned-executable-memory": True}


def _wxs() -> ET.Element:
    return ET.parse(WXS).getroot()


def test_wxs_is_per_machine_with_policyfile_and_modeldir() -> None:
    root = _wxs()
    package = root.find(f"{WIX}Package")
    assert package is not None and package.get("Scope") == "perMachine"
    props = {p.get("Id"): p for p in root.iter(f"{WIX}Property")}
    for name in ("POLICYFILE", "MODELDIR"):
        assert props[name].get("Secure") == "yes", name
    dirs = {d.get("Id"): d.get("Name") for d in root.iter(f"{WIX}Directory")}
    assert dirs["INSTALLFOLDER"] == "Fireside"
    std = {d.get("Id") for d in root.iter(f"{WIX}StandardDirectory")}
    assert {"ProgramFiles64Folder", "CommonAppDataFolder", "ProgramMenuFolder"} <= std
    components = {c.get("Id"): c for c in root.iter(f"{WIX}Component")}
    copy = components["PolicyFileCopy"].find(f"{WIX}CopyFile")
    assert copy is not None and copy.get("SourceProperty") == "POLICYFILE"
    assert copy.get("DestinationName") == "policy.json" and copy.get("Delete") == "no"
    assert components["PolicyFileCopy"].get("Condition") == "POLICYFILE"
    reg = components["SharedModelDirs"].find(f"{WIX}RegistryValue")
    assert reg is not None and components["SharedModelDirs"].get("Condition") == "MODELDIR"
    assert (reg.get("Root"), reg.get("Key"), reg.get("Name"), reg.get("Type")) == (
        "HKLM", r"Software\Policies\Fireside", "shared_model_dirs", "multiString")
    shortcut = next(root.iter(f"{WIX}Shortcut"))
    assert shortcut.get("Target") == "[INSTALLFOLDER]firesidew.exe"


def test_wxs_uninstall_keeps_policy_models_and_user_data() -> None:
    root = _wxs()
    components = {c.get("Id"): c for c in root.iter(f"{WIX}Component")}
    for keep in ("PolicyFileCopy", "SharedModelDirs"):
        assert components[keep].get("Permanent") == "yes", keep
    # Nothing in the package deletes files, folders or registry keys on its own.
    removers = {"RemoveFile", "RemoveFolder", "RemoveFolderEx", "RemoveRegistryKey", "RemoveRegistryValue"}
    found = {el.tag.split("}")[1] for el in root.iter()} & removers
    assert not found, f"uninstall would delete something: {found}"
    # Only INSTALLFOLDER holds harvested files; ProgramData is touched only by the policy copy.
    files = list(root.iter(f"{WIX}Files"))
    assert [f.get("Include") for f in files] == [r"!(bindpath.Bundle)\**"]
    assert all(c.get("Directory") != "PROGRAMDATAFOLDER" or c.get("Permanent") == "yes"
               for c in components.values())


def _xmllint(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["xmllint", "--noout", *map(str, paths)], capture_output=True, text=True)


def test_windows_xml_is_well_formed_for_xmllint() -> None:
    if shutil.which("xmllint") is None:
        pytest.fail("xmllint is missing: run scripts/system-deps.sh --test as root "
                    "(or apt-get install libxml2-utils).")
    result = _xmllint(ADMX, ADML, WXS, MOBILECONFIG)
    assert result.returncode == 0, result.stderr


def test_shell_scripts_pass_shellcheck() -> None:
    if shutil.which("shellcheck") is None:
        pytest.fail("shellcheck is missing: run scripts/system-deps.sh --test as root "
                    "(or apt-get install shellcheck).")
    scripts = sorted((ROOT / "installer").rglob("*.sh"))
    scripts += [ROOT / "installer" / "linux" / "postinst", ROOT / "installer" / "linux" / "postrm"]
    assert len(scripts) >= 4
    for script in scripts:
        syntax = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert syntax.returncode == 0, f"{script}: {syntax.stderr}"
    result = subprocess.run(["shellcheck", "--severity=style", *map(str, scripts)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_app_icon_is_the_one_source_icon() -> None:
    source = ROOT / "resources" / "icons" / "fireside.svg"
    assert (ROOT / "app" / "fireside" / "resources" / "fireside.svg").read_bytes() == source.read_bytes()
    svg = ET.parse(source).getroot()
    assert svg.get("viewBox") == "0 0 256 256"


