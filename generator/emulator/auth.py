"""The emulator's front door: the bearer token, then the body's size, before any body byte is read.

Answers are ARM-style errors (`ApiError`): 401 for a missing, invalid, expiry-less or expired
token (codes as ARM uses them: AuthenticationFailed, InvalidAuthenticationToken,
ExpiredAuthenticationToken), 411 for a body without a Content-Length, 400 for a malformed one,
413 for one over the limit. A refused request's body is never read (the connection is closed).
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

from .arm import ApiError

# ARM JSON bodies are small; uploads carry data files (a blob put of one file).
MAX_JSON_BYTES = 4 * 1024 * 1024
MAX_UPLOAD_BYTES = 256 * 1024 * 1024
MAX_LENGTH_DIGITS = 18  # a Content-Length longer than this is no length (and int() may refuse)


def _utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_token(header: str, secret: str, audiences: list[str]) -> None:
    """Raise a 401 ApiError unless `header` is `Bearer <HS256 JWT>` signed with `secret`, for
    one of `audiences`, carrying an `exp` that has not passed."""
    import jwt

    if not header:
        raise ApiError(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        )
    if not header.startswith("Bearer "):
        raise ApiError(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is provided in an invalid format "
            "(expected 'Bearer <token>').",
        )
    token = header[len("Bearer ") :]
    try:
        # The signature and the audience first; the expiry is checked below, by hand, so that a
        # token with an absurd `exp` (-1e30, 1e30, nan, a string) is refused, not a crash.
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=audiences,
            options={"require": ["exp"], "verify_exp": False},
        )
    except jwt.MissingRequiredClaimError as exc:
        raise ApiError(
            401,
            "InvalidAuthenticationToken",
            f"The access token has no '{exc.claim}' claim"
            + ("; tokens must expire." if exc.claim == "exp" else "."),
        ) from None
    except (jwt.PyJWTError, ValueError, TypeError, OverflowError, RecursionError):
        raise ApiError(401, "InvalidAuthenticationToken", _INVALID) from None
    _check_expiry(claims.get("exp"))


_INVALID = "The access token is invalid (a bearer JWT signed for this emulator is required)."
# ARM's access tokens live an hour or so; the emulator's client mints one-hour tokens.
MAX_TOKEN_SECONDS = 24 * 3600


def _check_expiry(exp: object) -> None:
    """An expiry that is a finite number of seconds, not past, at most a day ahead."""
    if isinstance(exp, bool) or not isinstance(exp, int | float) or not math.isfinite(exp):
        raise ApiError(401, "InvalidAuthenticationToken", f"{_INVALID[:-1]}: 'exp' is not a time.")
    now = datetime.now(timezone.utc).timestamp()
    if exp <= now:
        when = _utc(exp) if exp > 0 else "before 1970"
        raise ApiError(
            401,
            "ExpiredAuthenticationToken",
            f"The access token expiry UTC time '{when}' is earlier than current UTC time "
            f"'{_utc(now)}'.",
        )
    if exp > now + MAX_TOKEN_SECONDS:
        raise ApiError(
            401,
            "InvalidAuthenticationToken",
            "The access token's expiry is more than a day away: tokens this long-lived are "
            "refused.",
        )


def body_length(content_lengths: list[str], transfer_encoding: str | None, upload: bool) -> int:
    """How many body bytes to read, checked against the limit before reading any of them.
    `content_lengths`: every Content-Length header of the request (two that differ: 400)."""
    if len(set(content_lengths)) > 1:
        raise ApiError(400, "InvalidContentLength", "The request has conflicting Content-Lengths.")
    content_length = content_lengths[0] if content_lengths else None
    if content_length is None:
        if transfer_encoding:
            raise ApiError(
                411,
                "LengthRequired",
                "A request body needs a Content-Length header (chunked bodies are not accepted).",
            )
        return 0
    text = content_length.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_LENGTH_DIGITS:
        raise ApiError(
            400, "InvalidContentLength", f"The Content-Length header '{text[:40]}' is not valid."
        )
    length = int(text)
    limit = MAX_UPLOAD_BYTES if upload else MAX_JSON_BYTES
    if length > limit:
        raise ApiError(
            413,
            "RequestEntityTooLarge",
            f"The request body ({length} bytes) exceeds the limit of {limit} bytes.",
        )
    return length
