"""Hardware targets: board catalog, custom specs, the int8 deployment estimator."""
