"""Arrays to pictures: colormaps, mosaics, overlays, kernel tiles, and matplotlib
figures for export. numpy/Pillow (matplotlib only for its colormap tables and
for export figures); no TensorFlow here."""

from .colormap import colorize, to_unit
from .images import display_image, resize, upscale_nearest, to_png
from .mosaic import Mosaic, grid_shape, mosaic
from .overlay import overlay
from .filters import kernel_tiles, kernel_cells

__all__ = [
    "colorize",
    "to_unit",
    "display_image",
    "resize",
    "upscale_nearest",
    "to_png",
    "Mosaic",
    "grid_shape",
    "mosaic",
    "overlay",
    "kernel_tiles",
    "kernel_cells",
]
