"""Board catalog: packaged boards, user board files, custom specs."""

from __future__ import annotations

from pathlib import Path

import pytest

from automcu.hardware.catalog import (
    BoardFileError,
    UnknownBoardError,
    get_board,
    list_boards,
    resolve_hardware,
)

REQUIRED = ["STM32F746", "STM32H743", "STM32F411", "STM32L4R5", "nRF52840", "ESP32-S3", "RP2040"]


def test_catalog_has_required_boards_with_datasheets() -> None:
    names = {b.name for b in list_boards()}
    assert set(REQUIRED) <= names
    assert any(b.core == "cortex-m55" for b in list_boards())
    for b in list_boards():
        assert b.datasheet and ("http" in b.datasheet), b.name
        assert b.sram_kb > 0 and b.flash_kb > 0 and b.clock_mhz > 0 and b.runtime_flash_kb > 0


def test_get_board_case_insensitive_and_facts() -> None:
    b = get_board("stm32f746")
    assert b.name == "STM32F746" and b.core == "cortex-m7" and b.clock_mhz == 216
    assert b.sram_kb == 320 and b.flash_kb == 1024
    assert get_board("esp32s3").name == "ESP32-S3"
    assert get_board("NRF52840").clock_mhz == 64


def test_unknown_board_lists_known_and_close_matches() -> None:
    with pytest.raises(UnknownBoardError) as exc:
        get_board("STM32F74")
    msg = str(exc.value)
    assert "STM32F746" in msg and "Known boards" in msg
    assert isinstance(exc.value, ValueError)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_user_board_file_and_custom_spec_are_equivalent(tmp_path: Path) -> None:
    text = "name: MyBoard\ncore: cortex-m4f\nclock_mhz: 80\nsram_kb: 96\nflash_kb: 256\n"
    f = _write(tmp_path / "myboard.yaml", text)
    from_file = resolve_hardware(str(f))
    custom = resolve_hardware(None, sram_kb=96, flash_kb=256, clock_mhz=80, core="cortex-m4f")
    assert from_file is not None and custom is not None
    assert from_file.model_dump(exclude={"name"}) == custom.model_dump(exclude={"name"})


def test_boards_dir_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path / "x.yaml", "name: LabBoard\ncore: cortex-m33\nclock_mhz: 160\nsram_kb: 256\nflash_kb: 1024\n")
    monkeypatch.setenv("AUTOMCU_BOARDS_DIR", str(tmp_path))
    assert "LabBoard" in {b.name for b in list_boards()}
    assert get_board("labboard").core == "cortex-m33"


def test_bad_board_file(tmp_path: Path) -> None:
    f = _write(tmp_path / "bad.yaml", "name: Bad\ncore: cortex-m4f\nclock_mhz: -1\nsram_kb: 1\nflash_kb: 1\n")
    with pytest.raises(BoardFileError):
        get_board(str(f))
    with pytest.raises(UnknownBoardError):
        get_board(str(tmp_path / "missing.yaml"))


def test_resolve_hardware_rules() -> None:
    assert resolve_hardware() is None
    over = resolve_hardware("STM32F746", sram_kb=128)
    assert over is not None and over.sram_kb == 128 and over.flash_kb == 1024
    with pytest.raises(ValueError, match="missing --core"):
        resolve_hardware(None, sram_kb=1, flash_kb=1, clock_mhz=1)
    with pytest.raises(ValueError, match="positive"):
        resolve_hardware(None, sram_kb=-5, flash_kb=1, clock_mhz=1, core="cortex-m7")
    with pytest.raises(ValueError, match="positive"):
        resolve_hardware("STM32F746", clock_mhz=0)
    with pytest.raises(ValueError, match="unknown core"):
        resolve_hardware(None, sram_kb=1, flash_kb=1, clock_mhz=1, core="z80")
