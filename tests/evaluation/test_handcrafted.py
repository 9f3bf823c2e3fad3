"""The colour-histogram descriptor against histograms counted by hand."""

import numpy as np
import pytest
from PIL import Image

from dranet_keras.errors import UserError
from dranet_keras.evaluation.handcrafted import histogram_descriptor, image_descriptors


def test_two_stripes_two_levels_per_channel_counted_by_hand():
    # HSV pixels; with 2 levels a channel value v falls in cell v // 128, the joint cell is
    # h*4 + s*2 + v.
    hsv = np.array(
        [
            [(0, 0, 0), (200, 255, 255)],  # cells 0, 7
            [(0, 0, 0), (0, 0, 0)],  # cells 0, 0     -> top stripe: 3 x cell 0, 1 x cell 7
            [(130, 130, 0), (255, 0, 255)],  # cells 6, 5
            [(127, 127, 127), (128, 128, 128)],  # cells 0, 7 -> bottom: cells 0, 5, 6, 7 once each
        ],
        dtype=np.uint8,
    )
    top = np.zeros(8)
    top[0], top[7] = np.sqrt(3 / 4), np.sqrt(1 / 4)
    bottom = np.zeros(8)
    bottom[[0, 5, 6, 7]] = np.sqrt(1 / 4)
    expected = np.concatenate([top, bottom]) / np.sqrt(2)
    np.testing.assert_allclose(histogram_descriptor(hsv, stripes=2, bins=(2, 2, 2), centre_sigma=None), expected)
    assert np.linalg.norm(expected) == pytest.approx(1.0)


def test_uneven_rows_go_to_the_first_stripes_and_order_matters():
    hsv = np.zeros((5, 1, 3), dtype=np.uint8)
    hsv[2:] = 255  # rows 0-1 black, rows 2-4 white; 2 stripes of 3 and 2 rows (numpy's array_split)
    descriptor = histogram_descriptor(hsv, stripes=2, bins=(2, 2, 2), centre_sigma=None) * np.sqrt(2)
    np.testing.assert_allclose(descriptor[:8], np.sqrt([2 / 3, 0, 0, 0, 0, 0, 0, 1 / 3]))
    np.testing.assert_allclose(descriptor[8:], [0, 0, 0, 0, 0, 0, 0, 1])
    flipped = histogram_descriptor(hsv[::-1], stripes=2, bins=(2, 2, 2), centre_sigma=None)
    assert not np.allclose(flipped, descriptor / np.sqrt(2))  # a stripe is a body part: position counts


def test_columns_are_weighted_by_a_gaussian_around_the_centre():
    # One row, three columns: cell 7 (white) at the edges, cell 0 (black) in the centre. With
    # sigma * W = 1 px the edge columns (1 px from the centre) weigh exp(-1/2), the centre 1.
    hsv = np.array([[(255, 255, 255), (0, 0, 0), (255, 255, 255)]], dtype=np.uint8)
    edge = np.exp(-0.5)
    expected = np.zeros(8)
    expected[0], expected[7] = np.sqrt(1 / (1 + 2 * edge)), np.sqrt(2 * edge / (1 + 2 * edge))
    np.testing.assert_allclose(histogram_descriptor(hsv, stripes=1, bins=(2, 2, 2), centre_sigma=1 / 3), expected)
    unweighted = histogram_descriptor(hsv, stripes=1, bins=(2, 2, 2), centre_sigma=None)
    np.testing.assert_allclose(unweighted[[0, 7]], np.sqrt([1 / 3, 2 / 3]))


def test_files_are_read_as_pil_hsv_and_unreadable_ones_named(tmp_path):
    red, blue = tmp_path / "red.png", tmp_path / "blue.png"
    Image.new("RGB", (4, 12), (255, 0, 0)).save(red)
    Image.new("RGB", (4, 12), (0, 0, 255)).save(blue)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    # PIL: red = (0, 255, 255) -> with the default 8x3x3 bins cell (0*3 + 2)*3 + 2 = 8 in each of
    # the 6 stripes; blue: hue 170 -> 170*8 // 256 = 5 -> cell (5*3 + 2)*3 + 2 = 53.
    descriptors = image_descriptors([red, blue])
    assert descriptors.shape == (2, 6 * 72)
    for row, cell in ((0, 8), (1, 53)):
        expected = np.zeros(6 * 72)
        expected[np.arange(6) * 72 + cell] = 1 / np.sqrt(6)
        np.testing.assert_allclose(descriptors[row], expected)
    with pytest.raises(UserError, match=r"broken\.jpg.*data\.skip_corrupt"):
        image_descriptors([red, broken])
    skipped = image_descriptors([red, broken], skip_corrupt=True)
    assert skipped.shape == (2, 432) and not skipped[1].any() and skipped[0].any()
