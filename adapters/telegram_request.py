"""python-telegram-bot's HTTP requests over aiohttp instead of httpx.

`BaseRequest` is python-telegram-bot's documented extension point for the HTTP library: everything
above it stays the library's own (building each request, turning an error answer into `RetryAfter`,
`Forbidden` and the rest, parsing the result). We swap the layer below because of its cost: one
sendMessage through httpx (httpcore's connection pool, anyio streams, h11) takes several times the
CPU it takes through aiohttp (C HTTP parser), and the bot is one Python process, so that decides
how many messages a second it can send (bench/RESULTS.md, fan-out).

Timeouts keep python-telegram-bot's meaning: `pool_timeout` bounds waiting for a free connection,
`connect_timeout` opening one, `read_timeout` each wait for the answer. aiohttp has no separate
write timeout, so `write_timeout` (or `media_write_timeout` for uploads) only adds to the total
allowed for the whole request.
"""

from __future__ import annotations

import urllib.parse
import urllib.request

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput  # the type BaseRequest.do_request declares
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

_Timeout = float | None
_HEADERS = {"User-Agent": BaseRequest.USER_AGENT}
_FORM_HEADERS = {**_HEADERS, "Content-Type": "application/x-www-form-urlencoded"}


def _pick(value: ODVInput[float], default: _Timeout) -> _Timeout:
    """A timeout passed for one call, or this request object's default (none was passed)."""
    return default if isinstance(value, DefaultValue) else value


def _total(*parts: _Timeout) -> _Timeout:
    return None if any(part is None for part in parts) else sum(part for part in parts if part is not None)


class AiohttpRequest(BaseRequest):
    """An aiohttp client session with a pool of kept-alive connections (HTTP/1.1).

    The defaults are `HTTPXRequest`'s. The session is opened in `initialize` (aiohttp wants the
    event loop it will run on) and closed in `shutdown`; python-telegram-bot calls both.
    """

    def __init__(
        self,
        connection_pool_size: int = 1,
        *,
        read_timeout: _Timeout = 5.0,
        write_timeout: _Timeout = 5.0,
        connect_timeout: _Timeout = 5.0,
        pool_timeout: _Timeout = 1.0,
        media_write_timeout: _Timeout = 20.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[str, str | None] = {}

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            # Not aiohttp's trust_env: it reads ~/.netrc and the proxy variables on every request.
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self._pool_size))

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized")
        uploads = request_data is not None and request_data.contains_files
        read = _pick(read_timeout, self._read_timeout)
        write = _pick(write_timeout, self._media_write_timeout if uploads else self._write_timeout)
        connect = _pick(connect_timeout, self._connect_timeout)
        pool = _pick(pool_timeout, self._pool_timeout)
        timeout = aiohttp.ClientTimeout(
            total=_total(pool, connect, write, read),
            connect=_total(pool, connect),
            sock_connect=connect,
            sock_read=read,
        )
        try:
            async with session.request(
                method,
                url,
                data=_body(request_data),
                headers=_FORM_HEADERS if request_data is not None and not uploads else _HEADERS,
                timeout=timeout,
                proxy=self._proxy(url),
            ) as response:
                return response.status, await response.read()
        except aiohttp.ConnectionTimeoutError as error:
            raise TimedOut(
                "Pool timeout: no connection to Telegram became free or could be opened in time. "
                "Request was *not* sent to Telegram."
            ) from error
        except TimeoutError as error:  # asyncio.TimeoutError is TimeoutError from Python 3.11
            raise TimedOut from error
        except aiohttp.ClientError as error:
            # The class name says more than the (often empty) message.
            raise NetworkError(f"aiohttp.{type(error).__name__}: {error}") from error

    def _proxy(self, url: str) -> str | None:
        """Like httpx, honour HTTP(S)_PROXY and NO_PROXY from the environment (read once per server)."""
        origin = url[: url.find("/", url.find("//") + 2)]
        if origin not in self._proxies:
            parts = urllib.parse.urlsplit(origin)
            bypass = urllib.request.proxy_bypass(parts.hostname or "")
            self._proxies[origin] = None if bypass else urllib.request.getproxies().get(parts.scheme)
        return self._proxies[origin]


def _body(request_data: RequestData | None) -> aiohttp.FormData | bytes | None:
    """Form fields (url-encoded, as python-telegram-bot sends them), or multipart with the files.

    Url-encoded bytes, not a dict: aiohttp would build a multipart writer for every dict first.
    """
    if request_data is None:
        return None
    if not request_data.contains_files:
        return request_data.url_encoded_parameters().encode()
    form = aiohttp.FormData(request_data.json_parameters)
    for name, (filename, content, mime_type) in request_data.multipart_data.items():
        form.add_field(name, content, filename=filename, content_type=mime_type)
    return form
