"""Job preparation as a service: validate a spec, resolve its hardware once, store the queued job.

The CLI and the API both call :func:`prepare_job`; each turns :class:`JobError` into its own answer
(an exit message, a 422). ``on_server`` says who is asking: the CLI's user may point at their own
board files; a server resolves catalog names only (packaged boards and the operator's
``AUTOMCU_BOARDS_DIR``), and its errors about a ``data_path`` say neither what a file holds nor
whether a path exists.
"""

from __future__ import annotations

from automcu.core.config import get_settings
from automcu.hardware.spec import HardwareSpec
from automcu.jobs.spec import JobSpec
from automcu.storage.db import Database
from automcu.storage.models import Job
from automcu.storage.repository import create_job


class JobError(ValueError):
    """A job spec that cannot run; ``field`` is the spec field at fault (None: the spec as a whole)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def validate_spec(spec: JobSpec, on_server: bool = False) -> HardwareSpec | None:
    """Everything about a spec that can be wrong, checked before anything is stored; its hardware."""
    try:
        hardware = spec.resolve_hardware(board_files=not on_server)
    except ValueError as exc:
        raise JobError(str(exc), "board" if spec.board else "hardware") from None
    if spec.proposer == "llm" and not get_settings().llm_configured:
        raise JobError("proposer 'llm' needs AUTOMCU_LLM_BASE_URL (an OpenAI-compatible endpoint); "
                       "use --proposer evolution to search offline", "proposer")
    if spec.real_data:
        try:
            check_real_data(spec.dataset, spec.data_path)
        except JobError as exc:
            if on_server and exc.field == "data_path":
                raise JobError(f"no usable {spec.dataset} data at this data_path on the server (its dataset "
                               f"folders are set up by the operator)", "data_path") from None
            raise
    return hardware


def check_real_data(dataset: str, data_path: str | None) -> None:
    """A real-data search needs its files (and the train extra) before anything is stored."""
    from automcu.data import DatasetError, load_dataset
    from automcu.deploy.extras import MissingExtraError, require_extra

    try:
        require_extra("torch", "sklearn")
    except MissingExtraError as exc:
        raise JobError(f"searching on {dataset} trains networks: {exc}", "dataset") from None
    try:
        load_dataset(dataset, data_path)
    except (DatasetError, OSError) as exc:
        raise JobError(str(exc), "data_path") from None


def prepare_job(spec: JobSpec, db: Database, owner: str | None = None, on_server: bool = False) -> Job:
    """Validate the spec, then store the queued job (task text is turned into a spec by the planner's first step)."""
    hardware = validate_spec(spec, on_server=on_server)
    return create_job(db, spec, hardware, owner=owner)
