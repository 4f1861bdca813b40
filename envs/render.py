"""Numpy-only drawing for the environments' ``rgb_array`` renders (no display, no pygame)."""

from __future__ import annotations

import numpy as np


def gray_to_rgb(gray: np.ndarray, cell: int, invert: bool = True) -> np.ndarray:
    """Upsamples a grey image by whole cells and returns it as RGB.

    Args:
        gray: (H, W) uint8 grey levels.
        cell: Pixels per input pixel along each axis.
        invert: Draw 255 as black on white (ink on paper), as digits are usually shown.

    Returns:
        (H * cell, W * cell, 3) uint8.
    """
    level = 255 - gray if invert else gray
    big = level.repeat(cell, axis=0).repeat(cell, axis=1)
    return np.repeat(big[:, :, None], 3, axis=2)


def draw_box(rgb: np.ndarray, top: int, left: int, height: int, width: int, color: tuple, thickness: int = 2) -> None:
    """Draws the outline of a rectangle in place, clipped to the picture.

    Args:
        rgb: (H, W, 3) uint8 picture, modified in place.
        top, left: Pixel coordinates of the box's top-left corner (may lie outside the picture).
        height, width: Box size in pixels.
        color: RGB triple.
        thickness: Line width in pixels, drawn inside the box.
    """
    H, W = rgb.shape[:2]
    bottom, right = top + height, left + width

    def fill(r0: int, r1: int, c0: int, c1: int) -> None:
        r0, r1, c0, c1 = max(r0, 0), min(r1, H), max(c0, 0), min(c1, W)
        if r0 < r1 and c0 < c1:
            rgb[r0:r1, c0:c1] = color

    fill(top, top + thickness, left, right)
    fill(bottom - thickness, bottom, left, right)
    fill(top, bottom, left, left + thickness)
    fill(top, bottom, right - thickness, right)
