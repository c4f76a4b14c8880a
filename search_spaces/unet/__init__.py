"""U-Net encoder-decoders for segmentation, built from NAS-Bench-201 cells and MBConv blocks."""

from search_spaces.unet.space import UNetSpace

__all__ = ["UNetSpace"]
