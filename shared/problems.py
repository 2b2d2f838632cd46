"""RFC 9457 problem+json for every failure an API can return, validation included.

Never a stack trace; never a 500 for something a caller sent. Details meant for citizens carry
Vietnamese and English."""
from __future__ import annotations

import base64
from datetime import date, datetime, time, timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.observability import get_logger

log = get_logger(__name__)
PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:onestop:problem:"


class ProblemError(Exception):
    def __init__(self, status: int, slug: str, title: str, detail: str | None = None, *,
                 detail_vi: str | None = None, errors: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail or title)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail
        self.detail_vi, self.errors, self.headers = detail_vi, errors, headers

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": TYPE_PREFIX + self.slug, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if self.detail_vi:
            body["detail_vi"] = self.detail_vi
        if self.errors:
            body["errors"] = self.errors
        if instance:
            body["instance"] = instance
        return body


def problem_response(problem: ProblemError, instance: str | None = None) -> JSONResponse:
    return JSONResponse(problem.body(instance), status_code=problem.status, media_type=PROBLEM_JSON,
                        headers=problem.headers)


_HTTP_SLUGS = {400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found",
               405: "method-not-allowed", 406: "not-acceptable", 409: "conflict", 413: "payload-too-large",
               415: "unsupported-media-type", 429: "too-many-requests", 503: "unavailable"}


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
        errors.append({"field": ".".join(loc) or "body", "message": err.get("msg", "invalid"), "code": err.get("type")})
    return errors


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        problem = ProblemError(422, "validation-error", "Request is invalid",
                               "One or more fields are invalid; see errors.",
                               detail_vi="Dữ liệu gửi lên không hợp lệ; xem chi tiết từng trường.",
                               errors=_field_errors(exc))
        return problem_response(problem, request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = _HTTP_SLUGS.get(exc.status_code, f"http-{exc.status_code}")
        title = exc.detail if isinstance(exc.detail, str) else slug.replace("-", " ").capitalize()
        return problem_response(ProblemError(exc.status_code, slug, title, headers=getattr(exc, "headers", None)),
                                request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled_error", path=request.url.path, error_type=type(exc).__name__, exc_info=exc)
        return problem_response(ProblemError(500, "internal-error", "Internal error",
                                             "The request could not be completed; it was logged.",
                                             detail_vi="Hệ thống gặp lỗi khi xử lý yêu cầu; lỗi đã được ghi nhận."),
                                request.url.path)


def parse_if_match(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    tag = if_match.strip().removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise ProblemError(400, "if-match-invalid", "If-Match must be the ETag of what you update (its version)",
                           errors=[{"field": "header.If-Match", "message": 'expected e.g. "3"'}])
    return int(tag)


def encode_cursor(at: datetime | None, last_id: str) -> str:
    """An opaque page cursor: the sort key and id of the last item shown (keyset pagination)."""
    return base64.urlsafe_b64encode(f"{at.isoformat() if at else ''}|{last_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime | None, str]:
    try:
        at, last_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        return (datetime.fromisoformat(at) if at else None), last_id
    except (ValueError, UnicodeDecodeError):
        raise ProblemError(400, "cursor-invalid", "The cursor is invalid",
                           errors=[{"field": "query.cursor", "message": "use next_cursor from the previous page"}]) from None


def period_bounds(first: date, last: date, tz) -> tuple[datetime, datetime]:
    """A report's days (`from`..`to`, inclusive, local time) as [start, end): checked, so that no
    date a caller sends can overflow."""
    if last < first:
        raise ProblemError(422, "period-invalid", "`to` is before `from`",
                           errors=[{"field": "query.to", "message": "must not be before from"}])
    if first.year < 2000 or last.year > 2100:
        raise ProblemError(422, "period-invalid", "The period must lie between 2000 and 2100",
                           errors=[{"field": "query.from" if first.year < 2000 else "query.to", "message": "out of range"}])
    return datetime.combine(first, time(0), tz), datetime.combine(last + timedelta(days=1), time(0), tz)
