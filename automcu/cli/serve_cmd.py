"""`automcu serve`: the REST API and dashboard (uvicorn) plus a pool of worker processes."""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer

from automcu.cli.common import console, guarded, open_db


def register(app: typer.Typer) -> None:
    @app.command()
    @guarded
    def serve(
        host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
        port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port")] = 8000,
        workers: Annotated[int, typer.Option(min=0, help="worker processes running jobs (0: run `automcu worker`"
                                                         " elsewhere)")] = 1,
        db: Annotated[str | None, typer.Option("--db", help="SQLAlchemy URL (default: per-user SQLite)")] = None,
        poll: Annotated[float, typer.Option(min=0.05, help="workers' poll period (s)")] = 1.0,
        worker_nice: Annotated[int, typer.Option(min=0, max=19, help="workers' CPU priority below the API's")] = 10,
        log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
        api_processes: Annotated[int, typer.Option(min=0, help="uvicorn processes answering requests (0: "
                                                           "one per core, at most 4)")] = 0,
    ) -> None:
        """Serve the REST API and dashboard; jobs run in worker processes.

        The API under /api/v1, OpenAPI at /docs, the dashboard at /.
        """
        import uvicorn

        from api.main import create_app
        from automcu.core.config import get_settings
        from automcu.engine.worker import WorkerPool

        settings = get_settings()
        if db:
            settings = settings.model_copy(update={"db_url": db})
        database = open_db(settings.database_url)
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        pool = WorkerPool(workers, database.url, poll_seconds=poll, nice=worker_nice).start() if workers else None
        console.print(f"AutoMCU on http://{host}:{port}/ (API /api/v1, docs /docs), database {database.url}, "
                      f"{workers} worker process(es)", highlight=False)
        processes = api_processes or min(4, os.cpu_count() or 1)
        try:
            if processes == 1:
                uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level, timeout_keep_alive=30)
            else:  # each process builds its app from the environment: pass the database on
                os.environ["AUTOMCU_DB_URL"] = settings.database_url
                uvicorn.run("api.main:create_app", factory=True, workers=processes, host=host, port=port,
                            log_level=log_level, timeout_keep_alive=30)
        finally:
            if pool is not None:
                pool.stop()
