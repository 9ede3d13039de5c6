"""Hand-designed reference networks (baselines) that searched models are reported against."""
