"""Meta's Resumable Upload API, for the sample media of a template's DOCUMENT / IMAGE / VIDEO header (Meta, "Resumable
Upload API" / "Upload a file" pages of the Graph API, read 2026-12): ``POST /<APP_ID>/uploads?file_name&file_length&
file_type`` opens a session (``{"id": "upload:<ID>"}``); ``POST /upload:<ID>`` with ``Authorization: OAuth <token>``
(Bearer accepted too), ``file_offset: 0`` and the file's bytes as the body answers the handle ``{"h": "<handle>"}``
that ``example.header_handle`` of ``POST /<WABA_ID>/message_templates`` names; ``GET /upload:<ID>`` tells how far an
upload got (``{"id", "file_offset"}``) so that an interrupted one resumes from there.

The file types are the page's list; the sizes are Meta's media limits (``wa_sandbox.media.SUPPORTED``). Refusals are
code 100 (HTTP 400) with a message saying what to fix; an unknown app id or session is 100 / subcode 33 like any
object the token cannot see. A chunk must carry the rest of the file (offset + body = ``file_length``).
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from .errors import GraphError, unsupported_request
from .graph import access_token, authenticate, check_version, sandbox
from .media import SUPPORTED

router = APIRouter()

#: the file types of the Resumable Upload API (Meta's list) and their size limits
UPLOAD_TYPES: dict[str, int] = {
    "application/pdf": SUPPORTED["application/pdf"],
    "image/jpeg": SUPPORTED["image/jpeg"],
    "image/jpg": SUPPORTED["image/jpeg"],
    "image/png": SUPPORTED["image/png"],
    "video/mp4": SUPPORTED["video/mp4"],
}
MAX_FILE_NAME = 255


@dataclass
class UploadSession:
    id: str  # ``upload:<opaque>``
    file_type: str
    file_length: int
    file_name: str | None
    waba_id: str | None  # the account whose token opened it (informational: handles are the app's)
    content: bytearray = field(default_factory=bytearray)
    handle: str | None = None
    created_at: float = field(default_factory=time.time)


def invalid(message: str) -> GraphError:
    return GraphError(code=100, message=message, messaging_product=False)


def _positive_int(raw: str | None, name: str) -> int:
    if raw is None or raw == "":
        raise invalid(f"(#100) The parameter {name} is required.")
    try:
        value = int(raw)
    except ValueError as exc:
        raise invalid(f"(#100) Param {name} must be a positive integer, got {raw[:40]!r}") from exc
    if value < 1:
        raise invalid(f"(#100) Param {name} must be a positive integer, got {value}")
    return value


@router.post("/{version}/{app_id}/uploads")
async def open_session(version: str, app_id: str, request: Request) -> JSONResponse:
    check_version(request, version)
    authenticate(request)
    state = sandbox(request)
    if app_id != state.settings.app_id:
        raise unsupported_request("post", app_id)
    query = request.query_params
    file_length = _positive_int(query.get("file_length"), "file_length")
    file_type = (query.get("file_type") or "").strip().lower()
    if not file_type:
        raise invalid("(#100) The parameter file_type is required.")
    if file_type not in UPLOAD_TYPES:
        raise invalid(f'(#100) Param file_type must be one of {{{", ".join(UPLOAD_TYPES)}}} - got "{file_type[:60]}".')
    if file_length > UPLOAD_TYPES[file_type]:
        raise invalid(
            f"(#100) Param file_length must be at most {UPLOAD_TYPES[file_type]} bytes for {file_type}, "
            f"got {file_length}"
        )
    file_name = query.get("file_name")
    if file_name is not None and (not file_name.strip() or len(file_name) > MAX_FILE_NAME):
        raise invalid(f"(#100) Param file_name must be 1 to {MAX_FILE_NAME} characters")
    owner = state.token_account(access_token(request))
    session = UploadSession(
        id="upload:" + secrets.token_urlsafe(24),
        file_type=file_type,
        file_length=file_length,
        file_name=file_name,
        waba_id=owner.id if owner is not None else None,
    )
    state.upload_sessions[session.id] = session
    return JSONResponse({"id": session.id})


def _session(request: Request, session_id: str, method: str) -> UploadSession:
    authenticate(request)
    session: UploadSession | None = sandbox(request).upload_sessions.get("upload:" + session_id)
    if session is None:
        raise unsupported_request(method, "upload:" + session_id)
    return session


@router.post("/{version}/upload:{session_id}")
async def upload_bytes(version: str, session_id: str, request: Request) -> JSONResponse:
    check_version(request, version)
    session = _session(request, session_id, "post")
    raw_offset = request.headers.get("file_offset")
    if raw_offset is None:
        raise invalid("(#100) The header file_offset is required (0 for a new upload).")
    try:
        offset = int(raw_offset)
    except ValueError as exc:
        raise invalid(f"(#100) The header file_offset must be an integer, got {raw_offset[:40]!r}") from exc
    if offset != len(session.content):
        raise invalid(
            f"(#100) file_offset {offset} does not match the upload's offset {len(session.content)} "
            f"(GET /{session.id} tells it)"
        )
    body = await request.body()
    if offset + len(body) != session.file_length:
        raise invalid(
            f"(#100) The body has {len(body)} bytes from file_offset {offset}: the upload needs the rest of the "
            f"file, {session.file_length - offset} bytes (file_length {session.file_length})"
        )
    if body:
        session.content.extend(body)
    if session.handle is None:
        kind = base64.b64encode(session.file_type.encode()).decode()
        session.handle = f"4::{kind}:ARb{secrets.token_urlsafe(48)}"
        sandbox(request).upload_handles[session.handle] = session
    return JSONResponse({"h": session.handle})


@router.get("/{version}/upload:{session_id}")
async def upload_status(version: str, session_id: str, request: Request) -> JSONResponse:
    check_version(request, version)
    session = _session(request, session_id, "get")
    return JSONResponse({"id": session.id, "file_offset": len(session.content)})
