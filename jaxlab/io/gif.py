"""Animated GIFs of played episodes."""

from __future__ import annotations

import numpy as np
from PIL import Image

from jaxlab.io.files import atomic_write


def write_gif(path: str, frames: list[np.ndarray], fps: int = 30) -> None:
    """Write RGB frames [H, W, 3] uint8 as a looping GIF."""
    images = [Image.fromarray(np.asarray(frame, dtype=np.uint8)) for frame in frames]
    atomic_write(
        path,
        lambda tmp: images[0].save(
            tmp, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0
        ),
    )
