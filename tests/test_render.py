"""Sample grids: torchvision's layout, without torchvision's import inside a run's training time."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from gans.training.render import grid_png, image_grid


@pytest.mark.parametrize("n,c,nrow", [(64, 1, 8), (10, 3, 4), (3, 1, 8), (2, 3, 1), (17, 1, 5)])
def test_grid_matches_torchvision_make_grid(n, c, nrow):
    from torchvision.utils import make_grid

    x = torch.rand(n, c, 7, 5, generator=torch.Generator().manual_seed(n))
    ref = make_grid(x, nrow=nrow, padding=2, pad_value=1.0)
    ours = image_grid(x, nrow=nrow)
    assert torch.equal(ours, ref[:c])  # make_grid turns one channel into three equal ones


def test_grey_grid_png_holds_the_pixels():
    x = torch.zeros(2, 1, 3, 3)
    x[1] = 1.0
    im = Image.open(io.BytesIO(grid_png(x, nrow=2)))
    assert im.mode == "L" and im.size == (2 + 2 * 5, 2 + 3 + 2)
    px = torch.from_numpy(np.array(im)).long()
    assert (px[2:5, 2:5] == 0).all() and (px[2:5, 7:10] == 255).all()  # the two images
    assert (px[0:2] == 255).all() and (px[5:7] == 255).all() and (px[:, 5:7] == 255).all()  # white padding


def test_a_sample_grid_does_not_import_torchvision():
    code = (
        "import sys, torch\n"
        "from gans.training.render import render_samples\n"
        "render_samples(torch.rand(4, 1, 8, 8))\n"
        "print('torchvision' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
