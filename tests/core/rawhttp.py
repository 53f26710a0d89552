"""A lean HTTP/1.1 client on asyncio streams, for many concurrent clients at once.

httpx's AsyncClient spends milliseconds of client CPU per request once hundreds of
connections are open; on a 2-core machine shared with the server, that would measure
the client. This one keeps one keep-alive connection per client and parses only what
the overload tests and bench/overload.py read: the status, the headers, the body.
"""

import asyncio
import concurrent.futures
from dataclasses import dataclass


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class RawClient:
    """One client: one connection, requests one after another (reconnecting if closed)."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, headers: dict[str, str] | None = None,
                      body: bytes = b"") -> Answer:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        try:
            answer = await self._read_answer()
        except (asyncio.IncompleteReadError, ConnectionError):
            await self.close()
            raise
        if answer.headers.get("connection", "").lower() == "close":
            await self.close()
        return answer

    async def _read_answer(self) -> Answer:
        head = await self._reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._read_chunks()
        else:
            body = await self._reader.readexactly(int(headers.get("content-length", "0")))
        return Answer(int(status_line.split(" ", 2)[1]), headers, body)

    async def _read_chunks(self) -> bytes:
        chunks = []
        while size := int((await self._reader.readline()).split(b";")[0], 16):
            chunks.append(await self._reader.readexactly(size))
            await self._reader.readline()
        await self._reader.readline()
        return b"".join(chunks)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._reader = self._writer = None


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


async def send_once(url: str, method: str, path: str, headers: dict[str, str] | None = None,
                    body: bytes = b"", timeout: float = 30) -> Answer:
    """One request on a connection of its own (closed after)."""
    client = RawClient("127.0.0.1", port_of(url))
    try:
        return await asyncio.wait_for(client.request(method, path, headers, body), timeout)
    finally:
        await client.close()


def request_once(url: str, method: str, path: str, headers: dict[str, str] | None = None,
                 body: bytes = b"", timeout: float = 30) -> Answer:
    return run_apart(send_once(url, method, path, headers, body, timeout))


def run_apart(coroutine):
    """asyncio.run in a thread of its own: a browser test earlier in this process leaves
    Playwright's event loop running in the main thread, where asyncio.run refuses to start."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
