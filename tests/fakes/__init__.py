"""Local fakes of provider APIs, each speaking its provider's documented protocol.

`serve(app)` runs any ASGI app (a fake) with uvicorn on a loopback port in a background
thread and yields its base URL, so adapters and official SDKs talk real HTTP to it.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import uvicorn



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(app, host: str = "127.0.0.1") -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("fake server did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)


@lru_cache
def tiny_mp4() -> bytes:
    """A real 0.5 s, 160x90 H.264 MP4 made once with PyAV, served as every fake's result."""
    import io

    import av
    import numpy as np

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 160, 90, "yuv420p"
        for i in range(12):
            frame = np.zeros((90, 160, 3), np.uint8)
            frame[:, :, 0] = i * 20
            frame[:, 40 + i * 4: 60 + i * 4, 1] = 200
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()
