"""A TCP proxy on the loopback interface that can play a dead server: cut() drops every
connection through it and refuses new ones until restore(), as a stopped PostgreSQL does."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress


class TcpProxy:
    """Forwards 127.0.0.1:port to upstream, one pair of threads per connection."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = 0
        self.connections = 0  # accepted since start, for tests that want to see traffic
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def start(self) -> TcpProxy:
        self._listen()
        return self

    def close(self) -> None:
        self._stop.set()
        self.cut()

    def cut(self) -> None:
        """Close the listener (new connections are refused) and every open connection."""
        with self._lock:
            listener, self._listener = self._listener, None
            open_sockets, self._sockets = self._sockets, set()
        if self._acceptor is not None:  # it sees the change within its accept timeout
            self._acceptor.join()
            self._acceptor = None
        if listener is not None:
            listener.close()
        for sock in open_sockets:
            _close(sock)

    def restore(self) -> None:
        """Listen again on the same port."""
        if not self._stop.is_set():
            self._listen()

    @contextmanager
    def down(self) -> Iterator[None]:
        self.cut()
        try:
            yield
        finally:
            self.restore()

    def outage_in_background(self, after_s: float, seconds: float) -> threading.Thread:
        """Cut after after_s, restore seconds later, from a thread of its own."""
        def run() -> None:
            if not self._stop.wait(after_s):
                with self.down():
                    self._stop.wait(seconds)

        thread = threading.Thread(target=run, name="proxy-outage", daemon=True)
        thread.start()
        return thread

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.05)
        self.port = listener.getsockname()[1]
        with self._lock:
            self._listener = listener
        self._acceptor = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._acceptor.start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            with self._lock:
                if self._listener is not listener:
                    return
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._pair(client)

    def _pair(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            _close(client)
            return
        client.settimeout(None)
        server.settimeout(None)
        with self._lock:
            if self._listener is None:  # cut while we connected
                _close(client)
                _close(server)
                return
            self._sockets.update((client, server))
            self.connections += 1
        for source, target in ((client, server), (server, client)):
            threading.Thread(target=self._pipe, args=(source, target), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with self._lock:
                    self._sockets.discard(sock)
                _close(sock)


def _close(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with suppress(OSError):
        sock.close()


def wait_until(condition: object, timeout_s: float, interval_s: float = 0.05) -> bool:
    """Poll condition() until it is true or timeout_s passed; whether it became true."""
    assert callable(condition)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval_s)
    return bool(condition())


@contextmanager
def proxied_postgres(url: str) -> Iterator[tuple[TcpProxy, str]]:
    """A proxy in front of the PostgreSQL of url, and url through it (same database, user,
    options); the proxy's engine is disposed of afterwards."""
    from sqlalchemy.engine import make_url

    from service.db import get_engine

    target = make_url(url)
    proxy = TcpProxy((target.host or "127.0.0.1", target.port or 5432)).start()
    through = target.set(host="127.0.0.1", port=proxy.port).render_as_string(
        hide_password=False)
    try:
        yield proxy, through
    finally:
        proxy.close()
        get_engine(through).dispose()
