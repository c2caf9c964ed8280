from __future__ import annotations

from fastapi import APIRouter

from incident_tickets.entrypoints.api.deps import CurrentActor, Paging, RowId, Runtime
from incident_tickets.entrypoints.api.schemas import (
    TicketAssign,
    TicketCreate,
    TicketPublic,
    TicketReject,
)

router = APIRouter(prefix="/api/tickets", tags=["tickets"])


@router.post("/", status_code=201)
async def create_ticket(body: TicketCreate, actor: CurrentActor, runtime: Runtime) -> TicketPublic:
    view = await runtime.tickets.create(
        actor,
        title=body.title,
        description=body.description,
        priority=body.priority,
        category=body.category,
        project_id=body.project_id,
    )
    return TicketPublic.of(view)


@router.get("/")
async def list_tickets(actor: CurrentActor, runtime: Runtime, page: Paging) -> list[TicketPublic]:
    views = await runtime.tickets.list_tickets(actor, limit=page.limit, offset=page.offset)
    return [TicketPublic.of(view) for view in views]


@router.get("/{ticket_id}/")
async def get_ticket(ticket_id: RowId, actor: CurrentActor, runtime: Runtime) -> TicketPublic:
    return TicketPublic.of(await runtime.tickets.get(actor, ticket_id))


@router.post("/{ticket_id}/open/")
async def open_ticket(ticket_id: RowId, actor: CurrentActor, runtime: Runtime) -> TicketPublic:
    return TicketPublic.of(await runtime.tickets.open(actor, ticket_id))


@router.post("/{ticket_id}/assign/")
async def assign_ticket(
    ticket_id: RowId, body: TicketAssign, actor: CurrentActor, runtime: Runtime
) -> TicketPublic:
    view = await runtime.tickets.assign(
        actor, ticket_id, body.developer_ids, body.resolution_due_at
    )
    return TicketPublic.of(view)


@router.post("/{ticket_id}/start/")
async def start_ticket(ticket_id: RowId, actor: CurrentActor, runtime: Runtime) -> TicketPublic:
    return TicketPublic.of(await runtime.tickets.start(actor, ticket_id))


@router.post("/{ticket_id}/finish/")
async def finish_ticket(ticket_id: RowId, actor: CurrentActor, runtime: Runtime) -> TicketPublic:
    return TicketPublic.of(await runtime.tickets.finish(actor, ticket_id))


@router.post("/{ticket_id}/approve/")
async def approve_ticket(ticket_id: RowId, actor: CurrentActor, runtime: Runtime) -> TicketPublic:
    return TicketPublic.of(await runtime.tickets.approve(actor, ticket_id))


@router.post("/{ticket_id}/reject/")
async def reject_ticket(
    ticket_id: RowId, actor: CurrentActor, runtime: Runtime, body: TicketReject | None = None
) -> TicketPublic:
    comment = body.comment if body else None
    return TicketPublic.of(await runtime.tickets.reject(actor, ticket_id, comment))
