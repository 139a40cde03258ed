"""Mask -> pixel, box and 3-D point, checked against values worked out by hand."""
import numpy as np
import pytest

from vla_ros.grounding.geometry import Intrinsics, bbox, centroid, depth_in_metres, largest_component, point_from_depth


def square_mask(h=40, w=60, u0=10, v0=20, u1=14, v1=24):
    m = np.zeros((h, w), dtype=bool)
    m[v0 : v1 + 1, u0 : u1 + 1] = True
    return m


def test_largest_component_drops_specks():
    m = square_mask()
    m[2, 50] = True  # a speck elsewhere
    kept = largest_component(m)
    assert kept.sum() == 25 and not kept[2, 50]
    assert not largest_component(np.zeros((5, 5), bool)).any()


def test_centroid_and_bbox_of_a_square():
    m = square_mask()  # columns 10..14, rows 20..24
    assert centroid(m) == (12, 22)
    assert bbox(m) == (10, 20, 14, 24)
    assert centroid(np.zeros((4, 4), bool)) is None and bbox(np.zeros((4, 4), bool)) is None


def test_centroid_lies_on_the_object_for_a_ring():
    m = np.zeros((21, 21), bool)
    m[0, :] = m[-1, :] = m[:, 0] = m[:, -1] = True  # the mean (10, 10) is a hole
    u, v = centroid(m)
    assert m[v, u]


def test_point_from_metric_depth():
    k = Intrinsics(fx=100.0, fy=200.0, cx=30.0, cy=20.0)
    m = square_mask()
    depth = np.full(m.shape, 2.0, np.float32)
    x, y, z = point_from_depth(m, (12, 22), depth, k)
    # x = (12 - 30) * 2 / 100, y = (22 - 20) * 2 / 200
    assert (x, y, z) == pytest.approx((-0.36, 0.02, 2.0))


def test_point_uses_median_and_ignores_invalid_depth():
    k = Intrinsics.from_k([100, 0, 30, 0, 100, 20, 0, 0, 1])
    m = square_mask()
    depth = np.full(m.shape, 1500, np.uint16)  # 16UC1 millimetres
    depth[20, 10:15] = 0  # holes
    depth[21, 10] = 9000  # an outlier the median ignores
    assert point_from_depth(m, (30, 20), depth, k) == pytest.approx((0.0, 0.0, 1.5))
    fdepth = depth_in_metres(depth)
    fdepth[22, :] = np.nan
    assert point_from_depth(m, (30, 20), fdepth, k)[2] == pytest.approx(1.5)


def test_no_valid_depth_gives_none():
    m = square_mask()
    depth = np.full(m.shape, np.nan, np.float32)
    depth[0, 0] = 1.0  # valid, but outside the mask
    assert point_from_depth(m, (12, 22), depth, Intrinsics(1, 1, 0, 0)) is None
    assert point_from_depth(m, (12, 22), np.full(m.shape, -1.0), Intrinsics(1, 1, 0, 0)) is None


def test_depth_of_another_resolution_is_resampled():
    m = square_mask(h=40, w=60)
    depth = np.full((20, 30), 0.8, np.float32)
    assert point_from_depth(m, (30, 20), depth, Intrinsics(100, 100, 30, 20))[2] == pytest.approx(0.8)
