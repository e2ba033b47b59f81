"""Media for a call without a camera: a synthetic video track, an audio tone, and a sink that counts frames.

* :class:`PatternVideoTrack` — a moving colour pattern with the frame number drawn
  in, so a received frame shows *which* frame arrived (and how late);
* :class:`ToneTrack` — a sine tone, 20 ms per frame, like a microphone;
* :class:`FrameSink` — reads a received track: frames/s, the last frame as an image.

aiortc asks a track for its next frame with ``await track.recv()``; the track
paces itself (``next_timestamp`` sleeps until the frame is due).
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections import deque
from typing import Any

import av
import numpy as np
from aiortc.contrib.media import MediaStreamError
from aiortc.mediastreams import AudioStreamTrack, MediaStreamTrack, VideoStreamTrack

from workshop.waiting import stop_task

# 3x5 pixel digits, drawn scaled up into the frame (no font files needed)
_DIGITS = {
    "0": "111101101101111",
    "1": "010110010010111",
    "2": "111001111100111",
    "3": "111001111001111",
    "4": "101101111001001",
    "5": "111100111001111",
    "6": "111100111101111",
    "7": "111001001001001",
    "8": "111101111101111",
    "9": "111101111001111",
}


def draw_number(img: np.ndarray, number: int, scale: int = 6, x: int = 8, y: int = 8) -> None:
    """Draw ``number`` in white, top left, into an RGB image (in place)."""
    for i, ch in enumerate(str(number)):
        glyph = np.array([int(b) for b in _DIGITS[ch]], dtype=bool).reshape(5, 3)
        block = np.kron(glyph, np.ones((scale, scale), dtype=bool))
        x0 = x + i * 4 * scale
        h, w = block.shape
        if y + h <= img.shape[0] and x0 + w <= img.shape[1]:
            img[y : y + h, x0 : x0 + w][block] = 255


def read_number(img: np.ndarray, scale: int = 6, x: int = 8, y: int = 8, max_digits: int = 7) -> int | None:
    """Read back a number drawn by :func:`draw_number` (after lossy video coding); None if unreadable."""
    digits = ""
    for i in range(max_digits):
        x0 = x + i * 4 * scale
        if x0 + 3 * scale > img.shape[1]:
            break
        cells = img[y : y + 5 * scale, x0 : x0 + 3 * scale].reshape(5, scale, 3, scale, -1).mean(axis=(1, 3, 4))
        bits = "".join("1" if v > 200 else "0" for v in cells.ravel())
        found = [d for d, pattern in _DIGITS.items() if pattern == bits]
        if not found:
            break
        digits += found[0]
    return int(digits) if digits else None


class PatternVideoTrack(VideoStreamTrack):
    """A moving colour gradient with the frame number drawn in; ``fps`` frames per second.

    ``noise=True`` fills the bottom quarter with random pixels: video that no encoder can
    squeeze, so the bitrate is what the encoder is *allowed*, not what the picture needs.
    """

    def __init__(self, width: int = 320, height: int = 240, fps: int = 30, noise: bool = False) -> None:
        super().__init__()
        self.width, self.height, self.fps, self.noise = width, height, fps, noise
        self._rng = np.random.default_rng(0)
        self.sent = 0
        y, x = np.mgrid[0:height, 0:width]
        self._base = np.stack(
            [x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), np.full_like(x, 128)], axis=-1
        ).astype(np.uint8)
        self._t0: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self._t0 is None:
            self._t0 = time.monotonic()
        due = self._t0 + self.sent / self.fps
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        img = np.roll(self._base, shift=(self.sent * 4) % self.width, axis=1)
        img[:, :, 2] = (self.sent * 3) % 256
        if self.noise:
            img[-(self.height // 4) :] = self._rng.integers(0, 256, img[-(self.height // 4) :].shape, dtype=np.uint8)
        draw_number(img, self.sent)
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts, frame.time_base = self.sent * (90000 // self.fps), fractions.Fraction(1, 90000)
        self.sent += 1
        return frame


class ToneTrack(AudioStreamTrack):
    """A sine tone at ``frequency`` Hz: 20 ms of 48 kHz mono per frame."""

    def __init__(self, frequency: float = 440.0, rate: int = 48000) -> None:
        super().__init__()
        self.frequency, self.rate, self.sent = frequency, rate, 0
        self._t0: float | None = None

    async def recv(self) -> av.AudioFrame:
        samples = self.rate // 50
        if self._t0 is None:
            self._t0 = time.monotonic()
        due = self._t0 + self.sent * samples / self.rate
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        t = (np.arange(samples) + self.sent * samples) / self.rate
        pcm = (np.sin(2 * np.pi * self.frequency * t) * 8000).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate, frame.pts = self.rate, self.sent * samples
        frame.time_base = fractions.Fraction(1, self.rate)
        self.sent += 1
        return frame


class FrameSink:
    """Consume a received track in the background: count frames, keep the last video frame."""

    def __init__(self, track: MediaStreamTrack, window: float = 2.0) -> None:
        self.track, self.kind, self.window = track, track.kind, window
        self.frames = 0
        self.last: Any = None  # the last av frame
        self._times: deque[float] = deque()
        self._first: float | None = None  # when the first frame arrived
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        try:
            while True:
                frame = await self.track.recv()
                self.frames += 1
                now = time.monotonic()
                if self._first is None:
                    self._first = now
                self._times.append(now)
                while self._times and self._times[0] < now - self.window:
                    self._times.popleft()
                if self.kind == "video":
                    self.last = frame
        except (MediaStreamError, asyncio.CancelledError):
            return

    @property
    def fps(self) -> float:
        """Frames per second over the last ``window`` seconds (frames that arrive in a burst count once each)."""
        if self._first is None:
            return 0.0
        now = time.monotonic()
        span = min(self.window, now - self._first)
        recent = sum(1 for t in self._times if t >= now - self.window)
        return recent / span if span > 0.05 else 0.0

    def image(self) -> np.ndarray | None:
        """The last received video frame as an RGB array (None before the first one)."""
        return None if self.last is None else self.last.to_ndarray(format="rgb24")

    async def stop(self) -> None:
        await stop_task(self._task, raise_error=False)
