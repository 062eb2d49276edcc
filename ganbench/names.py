"""The registered GAN and data-set names, as plain strings, for help texts.

Building the parser must not import torch (``ganbench --help`` answers in well under a second),
so the help texts name the registries' entries from these lists; a test checks that they equal
``gans.models.list_gans()`` and ``gans.data.list_datasets()``.
"""

GAN_NAMES = (
    "celeba_conv",
    "celeba_mlp",
    "cgan",
    "dcgan",
    "mnist_mlp",
    "pattern1010",
    "segan",
    "wgan",
    "wgan_gp",
    "wgan_gp_toy",
    "wgan_toy",
)

DATASET_NAMES = (
    "auto",
    "celeba-h5",
    "digits",
    "fake",
    "fashion-mnist",
    "glyphs",
    "grid25",
    "image-folder",
    "mnist",
    "pattern1010",
    "photos",
    "ring8",
    "speech",
)
