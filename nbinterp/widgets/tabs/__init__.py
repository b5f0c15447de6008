"""The Explorer's tabs, one class per tab (see :mod:`.base` for the protocol)."""

from .activations import ActivationsTab
from .architecture import ArchitectureTab
from .base import Tab
from .filters import FiltersTab
from .kernel_response import KernelResponseTab
from .saliency import SaliencyTab
from .top_images import TopImagesTab

__all__ = ["ActivationsTab", "ArchitectureTab", "FiltersTab", "KernelResponseTab", "SaliencyTab", "Tab", "TopImagesTab"]
