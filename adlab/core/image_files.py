"""What an unreadable image file and a mask of the wrong size are called, for every reader.

The dataset readers (:mod:`adlab.data.imageio`) and the official-layout metrics reader
(:mod:`adlab.metrics.files`) are sibling layers; both word these two rules from here, so a
corrupt file or a mismatched mask reads the same whichever command met it.
"""
from __future__ import annotations

from pathlib import Path


def unreadable(path: Path, what: str, exc: BaseException) -> str:
    """The sentence for a file that cannot be decoded (``what``: image, mask, anomaly map)."""
    return f"cannot read {what} {path} ({type(exc).__name__}: {exc}); replace or remove the file"


def mask_size_problem(mask: Path, mask_hw: tuple[int, int], image: Path,
                      image_hw: tuple[int, int]) -> str | None:
    """Why ``mask`` cannot be used for ``image`` (their sizes differ), or None. Stretching a
    mask of another size would mark the wrong pixels without a word, so it is refused."""
    if tuple(mask_hw) == tuple(image_hw):
        return None
    (h, w), (ih, iw) = mask_hw, image_hw
    return (f"mask {mask} is {w}x{h} pixels but its image {image} is {iw}x{ih}; a mask must have "
            f"its image's size (adlab does not stretch it), so resize the mask to {iw}x{ih} "
            "(nearest neighbour) or regenerate it")
