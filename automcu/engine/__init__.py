"""The job loop and its parts: planner (propose → check → evaluate → record), worker, task step, hand-off, lineage."""
