"""mmbnn/datasets/shortcuts.py: the colour-only baseline that tells whether
a data set can be solved without shapes."""
import os

import numpy as np
import pytest
from PIL import Image

from mmbnn.datasets import shortcuts


def test_colour_histogram_counts_pixels_per_rgb_cell():
    img = np.zeros((1, 2, 2, 3), np.uint8)
    img[0, 0, 0] = (255, 0, 0)     # cell (1, 0, 0) with 2 levels: 4
    img[0, 0, 1] = (130, 127, 200)  # (1, 0, 1): 5
    img[0, 1, 1] = (0, 255, 255)    # (0, 1, 1): 3; one black pixel: 0
    hist = shortcuts.colour_histograms(img, bins=2)
    expected = np.zeros(8)
    expected[[4, 5, 3, 0]] = 0.25
    np.testing.assert_allclose(hist[0], expected)


def test_nearest_centroid_by_hand():
    train = np.array([[0.0, 0], [0, 2], [10, 0], [10, 2]])
    labels = np.array([3, 3, 7, 7])  # means (0, 1) and (10, 1)
    test = np.array([[4.9, 5], [5.1, -5], [-1, 1]])
    acc = shortcuts.nearest_centroid_accuracy(train, labels, test,
                                              np.array([3, 7, 7]))
    assert acc == pytest.approx(2 / 3)


def _folders(root, colour_of_class, per_class, rng):
    for c, colour in enumerate(colour_of_class):
        os.makedirs(os.path.join(root, f'c{c}'))
        for i in range(per_class):
            img = np.clip(np.asarray(colour) + rng.normal(0, 20, (16, 16, 3)),
                          0, 255).astype(np.uint8)
            Image.fromarray(img).save(os.path.join(root, f'c{c}', f'{i}.png'))


def test_the_baseline_solves_a_colour_coded_set(tmp_path):
    """A set whose classes differ in colour only: the baseline finds it."""
    rng = np.random.default_rng(0)
    colours = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40)]
    _folders(str(tmp_path / 'train'), colours, 5, rng)
    _folders(str(tmp_path / 'val'), colours, 3, rng)
    result = shortcuts.colour_baseline(str(tmp_path / 'train'),
                                       str(tmp_path / 'val'))
    assert result['colour_top1'] == 1.0
    assert result['chance'] == 0.25 and result['num_val'] == 12


def test_the_tool_prints_the_baseline_and_chance(tmp_path):
    import json
    import subprocess
    import sys

    from conftest import ROOT
    rng = np.random.default_rng(1)
    colours = [(200, 40, 40), (40, 200, 40)]
    _folders(str(tmp_path / 'train'), colours, 4, rng)
    _folders(str(tmp_path / 'val'), colours, 2, rng)
    tool = os.path.join(ROOT, 'tools', 'analysis_tools', 'shortcut_baseline.py')
    out = subprocess.run([sys.executable, tool, str(tmp_path)], check=True,
                         capture_output=True, text=True).stdout
    assert 'top-1 100.0% (chance 50.0%; 2 classes' in out
    assert json.loads(out.splitlines()[-1])['num_train'] == 8
    bad = subprocess.run([sys.executable, tool, str(tmp_path / 'none')],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and 'no class-folder directory' in bad.stderr


def test_bad_folders_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='no class-folder directory'):
        shortcuts.read_class_folders(str(tmp_path / 'absent'))
    os.makedirs(tmp_path / 'empty' / 'c0')
    with pytest.raises(ValueError, match='no images under'):
        shortcuts.read_class_folders(str(tmp_path / 'empty'))
