"""AutoMCU: feasibility-first neural architecture search for microcontrollers."""

__version__ = "0.1.0"
