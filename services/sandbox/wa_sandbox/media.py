"""Media: upload (``POST /<PHONE_NUMBER_ID>/media``, multipart), retrieval (``GET /<MEDIA_ID>``: url, mime_type,
sha256, file_size, id) and the download URL (bearer auth), with Meta's limits.

Sources (Meta, WhatsApp Cloud API, "Media" page under business-phone-numbers, read 2026-12): the upload is a
multipart form with ``messaging_product=whatsapp``, ``type`` (the MIME type) and ``file``; the answer is
``{"id": ...}``; an uploaded media id lives 30 days; ``GET /<MEDIA_ID>`` gives a download URL valid for 5 minutes,
fetched with the same bearer token; the supported types and sizes are the page's table (documents up to 100 MB,
images 5 MB, audio and video 16 MB, stickers 100/500 KB). An unsupported type is refused as an invalid ``file``
parameter (code 100); a file over its type's limit, and a send whose media id the sandbox does not know, answer
131053 "Media upload error" (Meta, "Error codes" page).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile

from .errors import GraphError
from .graph import authenticate, check_messaging_product, number_account, sandbox

router = APIRouter()

MB = 1024 * 1024
#: Meta's supported media types and their size limits (bytes), from the "Media" page's table
SUPPORTED: dict[str, int] = {
    "audio/aac": 16 * MB,
    "audio/amr": 16 * MB,
    "audio/mpeg": 16 * MB,
    "audio/mp4": 16 * MB,
    "audio/ogg": 16 * MB,
    "text/plain": 100 * MB,
    "application/pdf": 100 * MB,
    "application/vnd.ms-excel": 100 * MB,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": 100 * MB,
    "application/msword": 100 * MB,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": 100 * MB,
    "application/vnd.ms-powerpoint": 100 * MB,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": 100 * MB,
    "image/jpeg": 5 * MB,
    "image/png": 5 * MB,
    "image/webp": 500 * 1024,
    "video/3gpp": 16 * MB,
    "video/mp4": 16 * MB,
}
MEDIA_LIFETIME_SECONDS = 30 * 24 * 3600  # an uploaded media id lives 30 days
URL_LIFETIME_SECONDS = 5 * 60  # the download URL of GET /<MEDIA_ID> is valid 5 minutes
DOWNLOAD_PREFIX = "/_media_download"


@dataclass
class StoredMedia:
    id: str
    phone_number_id: str
    mime_type: str
    content: bytes
    filename: str | None
    uploaded_at: float

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    def expired(self, now: float | None = None) -> bool:
        return (now or time.time()) - self.uploaded_at > MEDIA_LIFETIME_SECONDS


def known_media(state: Any, media_id: str) -> StoredMedia | None:
    """The stored media of that id, unless unknown or past its 30 days."""
    media: StoredMedia | None = state.media.get(media_id)
    return None if media is None or media.expired() else media


def check_header_media(state: Any, params: list[Any]) -> None:
    """A send's header refers to uploaded media by ``id``: the sandbox must know it (else 131053)."""
    for param in params:
        if not isinstance(param, dict):
            continue
        media = param.get(str(param.get("type")))
        if isinstance(media, dict) and media.get("id") is not None and known_media(state, str(media["id"])) is None:
            raise GraphError(code=131053, details=f"Media id {media['id']!r} is unknown or expired; upload it again")


def _new_media_id() -> str:
    return str(10**15 + secrets.randbelow(9 * 10**15))


@router.post("/{version}/{node_id}/media")
async def upload_media(version: str, node_id: str, request: Request) -> JSONResponse:
    number_account(request, version, node_id, "post")
    state = sandbox(request)
    try:
        form = await request.form(max_part_size=101 * MB)
    except Exception as exc:  # noqa: BLE001 - any unreadable form is Meta's invalid parameter
        raise GraphError(code=100, message="(#100) Invalid parameter", details=f"multipart form: {exc}") from exc
    check_messaging_product(form.get("messaging_product"))
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise GraphError(code=100, message="(#100) The parameter file is required.")
    declared = form.get("type")
    mime = str(declared if isinstance(declared, str) and declared else upload.content_type or "").split(";")[0]
    mime = mime.strip().lower()
    if mime not in SUPPORTED:
        raise GraphError(
            code=100,
            message=f"(#100) Param file must be a file with one of the following types: {', '.join(SUPPORTED)}. "
            f"Received file of type '{mime}'.",
        )
    content = await upload.read()
    if len(content) > SUPPORTED[mime]:
        raise GraphError(
            code=131053,
            details=f"The {mime} file has {len(content)} bytes; at most {SUPPORTED[mime]} are accepted",
        )
    if not content:
        raise GraphError(code=131053, details="The file is empty")
    media = StoredMedia(_new_media_id(), node_id, mime, content, upload.filename, time.time())
    state.media[media.id] = media
    return JSONResponse({"id": media.id})


def media_node(request: Request, media_id: str) -> JSONResponse | None:
    """``GET /<MEDIA_ID>`` (called by the Graph node route): the media's fields, with a download URL."""
    media = known_media(sandbox(request), media_id)
    if media is None:
        return None
    expires = int(time.time()) + URL_LIFETIME_SECONDS
    url = str(request.base_url).rstrip("/") + f"{DOWNLOAD_PREFIX}/{media.id}?expires={expires}"
    return JSONResponse(
        {
            "messaging_product": "whatsapp",
            "url": url,
            "mime_type": media.mime_type,
            "sha256": media.sha256,
            "file_size": len(media.content),
            "id": media.id,
        }
    )


@router.get(DOWNLOAD_PREFIX + "/{media_id}")
async def download_media(media_id: str, request: Request) -> Response:
    """The file behind ``GET /<MEDIA_ID>``'s url: the same bearer token, within 5 minutes."""
    state = sandbox(request)
    media = known_media(state, media_id)
    authenticate(request, state.account_of_number(media.phone_number_id) if media else None, "get", media_id)
    try:
        expires = int(request.query_params.get("expires", "0"))
    except ValueError:
        expires = 0
    if media is None:
        raise GraphError(
            code=100, message="(#100) Invalid parameter", details=f"media {media_id!r} not found", http_status=404
        )
    if expires < time.time():
        raise GraphError(
            code=100, message="(#100) Invalid parameter", details="the download URL expired", http_status=404
        )
    return Response(media.content, media_type=media.mime_type)


@router.get("/_sandbox/media", include_in_schema=False)
async def list_media(request: Request) -> list[dict[str, Any]]:
    """The control API's view of the uploads (tests and people): no content, oldest first."""
    return [
        {
            "id": m.id,
            "phone_number_id": m.phone_number_id,
            "mime_type": m.mime_type,
            "filename": m.filename,
            "file_size": len(m.content),
            "sha256": m.sha256,
            "expired": m.expired(),
        }
        for m in sandbox(request).media.values()
    ]
