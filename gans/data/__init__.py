"""Data sources by kind; importing this package registers every source.

========================  ==========================================================
name                      what (module)
========================  ==========================================================
``pattern1010``           the 1010 GAN's [0.8–1, 0–0.2, 0.8–1, 0–0.2] 4-vectors (toys)
``ring8`` / ``grid25``    2-D Gaussian mixtures, VEEGAN / PacGAN protocol (toys)
``fake``                  random tensors of the model's input shape (toys)
``glyphs``                70,000 handwritten-style 28×28 digits rendered from matplotlib's fonts (glyphs)
``digits``                scikit-learn's 1,797 8×8 digits resized to 28×28 (mnist)
``mnist``                 torchvision layout under the data root (mnist)
``fashion-mnist``         torchvision layout, or Debian's ``dataset-fashion-mnist`` (mnist)
``auto``                  mnist → fashion-mnist → glyphs → digits, whichever is present first (mnist)
``photos``                random crops of scikit-learn's two sample photos (images)
``celeba-h5``             the seed's h5: group ``img_align_celeba``, ``"0.jpg"``, … (images)
``image-folder``          the seed's anime loader: jpg/jpeg/png/gif in one folder (images)
``speech``                espeak-ng speech mixed with noise, for SEGAN (speech)
========================  ==========================================================
"""

from . import glyphs, images, mnist, speech, toys  # noqa: F401  (importing registers the sources)
from .core import (
    Data,
    DataEntry,
    DataOptions,
    get_dataset_entry,
    list_dataset_entries,
    list_datasets,
    load_data,
    register_dataset,
    synthetic_data,
    tensor_data,
)
from .toys import mixture_centers

__all__ = [
    "Data",
    "DataEntry",
    "DataOptions",
    "get_dataset_entry",
    "list_dataset_entries",
    "list_datasets",
    "load_data",
    "register_dataset",
    "synthetic_data",
    "tensor_data",
    "mixture_centers",
]
