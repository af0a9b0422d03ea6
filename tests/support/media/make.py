"""How clip.mp4 and poster.jpg next to this file were made (run once, committed; tests only
copy them): `python -m tests.support.media.make`.

clip.mp4 is what a demo take looks like to the app — H.264 High, yuv420p, 640×360, 24 fps,
96 frames (4.0 s), a keyframe every 0.5 s, faststart — but a flat picture with one moving
block, so it is a few kilobytes instead of a rendered scene's 130."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
WIDTH, HEIGHT, FPS, FRAMES = 640, 360, 24, 96


def make(dest: Path = HERE) -> None:
    import av
    import numpy as np

    from app import media

    clip = dest / "clip.mp4"
    with av.open(str(clip), "w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"g": str(FPS // 2), "keyint_min": str(FPS // 2), "sc_threshold": "0", "crf": "35"}
        for i in range(FRAMES):
            frame = np.full((HEIGHT, WIDTH, 3), 40, np.uint8)
            x = i * (WIDTH - 80) // (FRAMES - 1)
            frame[140:220, x:x + 80] = (220, 60, 40)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    media.make_poster(clip, dest / "poster.jpg")


if __name__ == "__main__":
    make()
    print(*(p for p in sorted(HERE.iterdir()) if p.suffix in (".mp4", ".jpg")))
