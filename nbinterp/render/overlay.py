"""A heatmap blended over an image."""

from __future__ import annotations

import numpy as np

from .colormap import colorize
from .images import display_image, resize


def overlay(image, heat, alpha=0.5, cmap="jet", symmetric=False, legend=None):
    """uint8 RGB: ``image`` with ``heat`` (any 2-D size, resized bilinearly) colourised on top.

    ``alpha`` is the heatmap's opacity in [0, 1]. ``symmetric`` centres a signed
    map on the colormap's middle. A :class:`~nbinterp.render.legend.Legend`
    gives palette and range instead (so the overlay matches its colour bar).
    """
    base = display_image(image)
    if base.ndim == 2:
        base = np.stack([base] * 3, axis=-1)
    base = base[..., :3].astype(np.float32)
    field = resize(np.asarray(heat, np.float32), base.shape[:2])
    colour = (legend.colorize(field) if legend is not None else colorize(field, cmap, symmetric=symmetric)).astype(np.float32)
    alpha = float(np.clip(alpha, 0.0, 1.0))
    return np.clip(np.round(base * (1 - alpha) + colour * alpha), 0, 255).astype(np.uint8)
