"""Deployment: export NB201 networks to full-int8 ``.tflite`` and run them in TensorFlow Lite Micro.

Needs the ``tflite`` extra (torch, litert-torch, ai-edge-quantizer, tflite_micro); every module
imports those lazily so ``import automcu.deploy`` itself stays dependency-free.
"""

from __future__ import annotations

from automcu.deploy.extras import MissingExtraError, require_extra

__all__ = ["MissingExtraError", "require_extra"]
