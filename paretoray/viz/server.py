"""The live dashboard: a read-only web server over the run directories it was given.

``paretoray dashboard RUN_DIR [RUN_DIR ...]`` serves one page (:mod:`paretoray.viz.page`) on
127.0.0.1 by default. The page polls ``/api/version`` (one short signature per run, from
``stat`` of ``run.json``, the manifest and the state) every second and fetches
``/api/run/<i>`` (the view and figures of run ``i``) only when a signature changed; the server
rebuilds a view only then, parsing only the segments committed since its last build.

It reads through the archive's public readers and never takes the lock, writes nothing, and
serves exactly five routes: ``/``, ``/plotly.min.js`` (from the installed plotly package),
``/api/version``, ``/api/run/<i>`` for ``0 <= i < len(run_dirs)`` and nothing else; no route
maps a URL to a file, so no request can reach another path (anything else is a 404, any
method but GET/HEAD a 405). The stack is aiohttp, which Ray's own dashboard runs on.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web
from yarl import URL

from paretoray.archive._fs import is_uri
from paretoray.errors import ConfigError, ParetorayError
from paretoray.viz.data import ViewCache

__all__ = ["Dashboard", "serve"]

_JSON_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


class Dashboard:
    """The dashboard's state: its run directories and the last view of each.

    Args:
        run_dirs: The run directories to show, side by side (local paths or pyarrow URIs).
            A local directory must exist; one without ``run.json`` yet is shown as waiting.

    Raises:
        ConfigError: When ``run_dirs`` is empty or a local path is not a directory.
    """

    def __init__(self, run_dirs: Sequence[str | os.PathLike[str]]) -> None:
        dirs = [os.fspath(r) for r in run_dirs]
        if not dirs:
            raise ConfigError("No run directory given: pass at least one RUN_DIR to show.")
        for d in dirs:
            if not is_uri(d) and not os.path.isdir(d):
                raise ConfigError(f"RUN_DIR {d!r} is not a directory. Pass the folder of a run "
                                  "(the one holding run.json), e.g. runs/demo-20260101-120000.")
        self.run_dirs = dirs
        self._caches = [ViewCache() for _ in dirs]
        self._entries: list[dict[str, Any] | None] = [None] * len(dirs)
        self._locks = [threading.Lock() for _ in dirs]
        self._plotly_js: bytes | None = None

    def signature(self, i: int) -> str | None:
        """The current signature of run ``i`` (None while it cannot be read)."""
        from paretoray.viz.data import view_signature

        try:
            return view_signature(self.run_dirs[i])
        except (OSError, ParetorayError):
            return None

    def entry(self, i: int) -> dict[str, Any]:
        """``{"index", "view", "figures"}`` of run ``i``, rebuilt only when it changed; or
        ``{"index", "run_dir", "error"}`` when it cannot be read (yet)."""
        from paretoray.viz.data import build_view
        from paretoray.viz.figures import figures_json

        with self._locks[i]:
            old = self._entries[i]
            if old is not None and old["view"]["signature"] == self.signature(i):
                return old
            try:
                view = build_view(self.run_dirs[i], cache=self._caches[i])
            except (OSError, ParetorayError) as exc:
                return {"index": i, "run_dir": self.run_dirs[i],
                        "error": f"{self.run_dirs[i]}: {exc}"}
            entry = {"index": i, "view": view, "figures": figures_json(view)}
            self._entries[i] = entry
            return entry

    def plotly_js(self) -> bytes:
        """plotly.js as shipped inside the installed plotly package."""
        if self._plotly_js is None:
            import plotly.offline

            self._plotly_js = plotly.offline.get_plotlyjs().encode()
        return self._plotly_js

    def page(self) -> str:
        """The live page's HTML."""
        from paretoray.viz.page import render_page

        names = ", ".join(os.path.basename(d.rstrip("/")) or d for d in self.run_dirs)
        return render_page([], live=True, n_runs=len(self.run_dirs),
                           plotly_script='<script src="plotly.min.js"></script>',
                           title=f"paretoray dashboard: {names}")

    # ------------------------------------------------------------------ http
    def app(self, host: str = "127.0.0.1") -> web.Application:
        """The aiohttp application (GET routes only).

        Args:
            host: The interface served. On a loopback interface, requests whose ``Host``
                header names another machine are refused (403): a web page elsewhere cannot
                read the runs through DNS rebinding.
        """
        loopback = {"127.0.0.1", "localhost", "::1"}
        allowed = None if host not in loopback else loopback

        @web.middleware
        async def check_host(request: web.Request, handler: Any) -> web.StreamResponse:
            try:
                name = URL(f"http://{request.host}").host
            except ValueError:
                name = None
            if allowed is not None and name not in allowed:
                raise web.HTTPForbidden(text=f"Host {request.host!r} is not served here.")
            return await handler(request)

        async def index(_: web.Request) -> web.Response:
            return web.Response(text=self.page(), content_type="text/html",
                                headers={"Cache-Control": "no-store"})

        async def plotly(_: web.Request) -> web.Response:
            return web.Response(body=self.plotly_js(), content_type="application/javascript",
                                headers={"Cache-Control": "max-age=3600"})

        async def version(_: web.Request) -> web.Response:
            loop = asyncio.get_running_loop()
            sigs = await asyncio.gather(*(loop.run_in_executor(None, self.signature, i)
                                          for i in range(len(self.run_dirs))))
            return web.json_response({"signatures": sigs}, headers=_JSON_HEADERS)

        async def run(request: web.Request) -> web.Response:
            i = int(request.match_info["i"])
            if i >= len(self.run_dirs):
                raise web.HTTPNotFound(text=f"no run {i}: this dashboard shows "
                                       f"{len(self.run_dirs)} run(s), 0..{len(self.run_dirs) - 1}")
            entry = await asyncio.get_running_loop().run_in_executor(None, self.entry, i)
            body = json.dumps(entry, allow_nan=False, separators=(",", ":"))
            return web.Response(text=body, content_type="application/json",
                                headers=_JSON_HEADERS)

        app = web.Application(middlewares=[check_host])
        app.router.add_get("/", index)
        app.router.add_get("/plotly.min.js", plotly)
        app.router.add_get("/api/version", version)
        app.router.add_get(r"/api/run/{i:\d{1,6}}", run)
        return app


async def _serve(dash: Dashboard, host: str, port: int,
                 on_ready: Callable[[str], None]) -> None:
    runner = web.AppRunner(dash.app(host), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sockets = site._server.sockets if site._server is not None else []  # type: ignore[attr-defined]
    bound = sockets[0].getsockname()[1] if sockets else port
    shown = f"[{host}]" if ":" in host else host
    on_ready(f"http://{shown}:{bound}/")
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def serve(
    run_dirs: Sequence[str | os.PathLike[str]],
    *,
    host: str = "127.0.0.1",
    port: int = 8050,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the dashboard until interrupted (Ctrl-C).

    Args:
        run_dirs: The run directories to show side by side.
        host: The interface to listen on; 127.0.0.1 (the default) keeps it on this machine.
        port: The TCP port (0: any free port; the URL printed says which).
        on_ready: Called with the URL once listening (default: print it).

    Raises:
        ConfigError: When a run directory is not a directory, or the port is taken.
    """
    dash = Dashboard(run_dirs)
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port} is not a TCP port; use 0..65535 (0: any free port).")

    def announce(url: str) -> None:
        print(f"paretoray dashboard: {url} (read-only; Ctrl-C to stop)", flush=True)
        if host not in ("127.0.0.1", "localhost", "::1"):
            print(f"warning: listening on {host}: anyone who can reach it sees these runs.",
                  file=sys.stderr, flush=True)

    try:
        asyncio.run(_serve(dash, host, port, on_ready or announce))
    except OSError as exc:
        raise ConfigError(f"Cannot listen on {host}:{port} ({exc.strerror or exc}). Pick "
                          "another --port (0 picks a free one) or --host.") from exc
    except KeyboardInterrupt:
        pass
