"""sdk/tools/generate.py: generated files are current and the cases cover the call table."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from elftools.elf.elffile import ELFFile

ROOT = Path(__file__).resolve().parents[3]
GENERATE = ROOT / "sdk" / "tools" / "generate.py"
# The opaque-byte writes leave their count output unchecked: the SDK header
# allows both PARAMETERFAULT and LATEFAULT for it.
UNCHECKED_POINTERS = {"mvWriteChannelStream": 1, "mvWriteChannel": 1}


@pytest.fixture(scope="module")
def generate(sdk_tool: Callable[[str], ModuleType]) -> ModuleType:
    return sdk_tool("generate")


def test_generated_files_are_current(generate: ModuleType) -> None:
    for path, text in generate.outputs().items():
        assert path.read_text() == text, f"{path} is stale: run python sdk/tools/generate.py"


def test_check_mode_reports_current_files() -> None:
    result = subprocess.run(
        [sys.executable, str(GENERATE), "--check"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_check_mode_reports_stale_file(
    generate: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    stale = tmp_path / "mv_syscalls.ld"
    stale.write_text("/* old */\n")
    monkeypatch.setattr(generate, "LINKER_SCRIPT", stale)
    monkeypatch.setattr(generate, "ROOT", tmp_path)
    monkeypatch.setattr(generate, "CASES_C", tmp_path / "cases.c")
    assert generate.main(["--check"]) == 1
    assert stale.read_text() == "/* old */\n"


def test_linker_script_binds_thumb_addresses(sdk_tool: Callable[[str], ModuleType]) -> None:
    mv_abi = sdk_tool("mv_abi")
    text = (ROOT / "sdk" / "ld" / "mv_syscalls.ld").read_text()
    bound = dict(re.findall(r"^(mv\w+)\s*=\s*(0x[0-9A-F]+);$", text, re.MULTILINE))
    assert {name: int(value, 16) for name, value in bound.items()} == {
        call.name: call.address | 1 for call in mv_abi.PUBLIC_CALLS
    }


def test_every_entry_has_cases(generate: ModuleType, sdk_tool: Callable[[str], ModuleType]) -> None:
    mv_abi = sdk_tool("mv_abi")
    called = {case.call for case in generate.all_cases()}
    # mvTestingComplete ends the run, so the runner calls it once at the end.
    assert called == {call.name for call in mv_abi.CALLS} - {"mvTestingComplete"}
    runner = (ROOT / "firmware" / "apps" / "conformance" / "main.c").read_text()
    assert "mvTestingComplete(" in runner


def test_pointer_parameters_get_bad_pointers(
    generate: ModuleType, sdk_tool: Callable[[str], ModuleType]
) -> None:
    mv_abi = sdk_tool("mv_abi")
    faults = Counter(
        case.call for case in generate.all_cases() if case.expected == "PARAMETERFAULT"
    )
    for call in mv_abi.CALLS:
        pointers = [param for param in call.params if "*" in param.ctype]
        if not pointers or call.name in mv_abi.RESERVED_CALLS:
            continue
        checked = len(pointers) - UNCHECKED_POINTERS.get(call.name, 0)
        # At least null, secure, unmapped and straddling for every pointer.
        assert faults[call.name] >= 4 * checked, call.name


def test_handle_parameters_get_bad_handles(
    generate: ModuleType, sdk_tool: Callable[[str], ModuleType]
) -> None:
    mv_abi = sdk_tool("mv_abi")
    labels: dict[str, set[str]] = {}
    for case in generate.all_cases():
        if case.expected == "INVALIDHANDLE":
            labels.setdefault(case.call, set()).add(case.label.split("=")[1])
    for call in mv_abi.CALLS:
        if any(param.ctype.endswith("Handle") for param in call.params):
            assert {"zero", "unknown"} <= labels.get(call.name, set()), call.name


def test_cases_are_well_formed(generate: ModuleType, sdk_tool: Callable[[str], ModuleType]) -> None:
    mv_abi = sdk_tool("mv_abi")
    cases = generate.all_cases()
    titles = [case.title for case in cases]
    assert len(titles) == len(set(titles))
    assert [case.phase for case in cases] == sorted(case.phase for case in cases)
    for case in cases:
        assert case.expected in mv_abi.MV_STATUS, case.title
        assert len(case.args) == len(mv_abi.CALLS_BY_NAME[case.call].params), case.title


def test_bad_pointer_kinds_are_all_used(generate: ModuleType) -> None:
    kinds = Counter(case.label.rsplit("=", 1)[-1] for case in generate.all_cases())
    for kind in ("null", "secure", "unmapped", "flash", "straddle", "misaligned"):
        assert kinds[kind] >= 20, kind


def test_firmware_holds_every_case(generate: ModuleType, firmware: Callable[[str], Path]) -> None:
    with open(firmware("conformance"), "rb") as stream:
        elf = ELFFile(stream)
        symbols = {s.name: s for s in elf.get_section_by_name(".symtab").iter_symbols()}
        count_symbol = symbols["g_case_count"]
        section = elf.get_section(count_symbol["st_shndx"])
        offset = count_symbol["st_value"] - section["sh_addr"]
        count = int.from_bytes(section.data()[offset : offset + 4], "little")
        table_size = symbols["g_cases"]["st_size"]
    assert count == len(generate.all_cases())
    assert table_size == count * 16
