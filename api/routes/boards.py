"""The board catalog (packaged boards plus any in ``AUTOMCU_BOARDS_DIR``)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import PrincipalDep
from api.schemas import BoardList, BoardOut

router = APIRouter(tags=["boards"])


@router.get("/boards", response_model=BoardList)
def boards(_principal: PrincipalDep) -> BoardList:
    """Every known board with its limits (SRAM and Flash the application may use, clock, core)."""
    from automcu.hardware.catalog import list_boards

    items = [BoardOut(**b.model_dump()) for b in list_boards()]
    return BoardList(items=items, total=len(items))
