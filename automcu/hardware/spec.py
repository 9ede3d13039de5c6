"""A hardware target: a catalog board or a custom spec. Plain data, no estimator logic."""

from __future__ import annotations

from pydantic import BaseModel, Field


class HardwareSpec(BaseModel):
    """Memory and compute of one microcontroller target.

    ``sram_kb``/``flash_kb`` are what the application may use (usable contiguous SRAM for the
    tensor arena, Flash for code + model); ``runtime_flash_kb`` is the TFLM runtime + op
    kernels' code size that the model shares Flash with, ``runtime_sram_kb`` the runtime's
    own RAM (stack, interpreter structs) that the arena shares SRAM with.
    """

    name: str = "custom"
    core: str = Field(description="CPU core, e.g. cortex-m7, cortex-m4f, cortex-m33, cortex-m55, xtensa-lx7")
    clock_mhz: float = Field(gt=0)
    sram_kb: float = Field(gt=0)
    flash_kb: float = Field(gt=0)
    runtime_flash_kb: float = Field(default=0.0, ge=0)
    runtime_sram_kb: float = Field(default=0.0, ge=0)
    vendor: str = ""
    datasheet: str = ""
    notes: str = ""

    @property
    def sram_bytes(self) -> int:
        return int(self.sram_kb * 1024)

    @property
    def flash_bytes(self) -> int:
        return int(self.flash_kb * 1024)
