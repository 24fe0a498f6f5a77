"""Endpoint URLs: the part that is safe to show, and credentials written into them.

A base URL may carry `user:password@` (a reverse proxy with basic auth in front of a server) or
a query holding a token. Neither may reach the screen, a notice or a log line: `shown_url`
gives what can be shown. `split_credentials` takes the user info out for sending: httpx turns
it into a Basic `Authorization` header on its own, aiohttp refuses a URL that carries it next
to an `Authorization` header (a bare `ValueError` out of every request), so the app sends the
same header itself on every transport.
"""

from __future__ import annotations

import base64
from urllib.parse import unquote, urlsplit, urlunsplit


def shown_url(url: str) -> str:
    """`url` without its user info or query, either of which can hold a credential."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address keeps its brackets
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a port that is not a number: shown as written, it holds no secret
        port = f":{parts.netloc.rpartition(':')[2]}"
    return f"{parts.scheme}://{host}{port}{parts.path}"


def split_credentials(url: str) -> tuple[str, str | None]:
    """`url` without its `user:password@`, and the Basic `Authorization` value those give
    (percent-escapes decoded, UTF-8, as httpx encodes them); None when it has none."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    user = unquote(parts.username or "")
    password = unquote(parts.password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    bare = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return bare, f"Basic {token}"


def url_password(url: str) -> str:
    """The password written into `url` (decoded), or "" (for blotting it out of messages)."""
    return unquote(urlsplit(url).password or "")
