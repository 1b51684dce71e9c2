"""Affine helpers: MMPose-equivalent matrices, round trips, flips."""

import cv2
import numpy as np
import pytest

from vipnas.data import metadata
from vipnas.data.transforms import (
    box_xywh_to_center_scale,
    center_scale_to_box_xywh,
    flip_boxes_xywh,
    flip_keypoints,
    flip_points,
    get_affine_matrix,
    get_udp_affine_matrix,
    invert_affine,
    transform_points,
    warp_image,
)


def _reference_warp(center, scale, rotation, output_size, inverse=False):
    """MMPose's three-point construction (get_warp_matrix, fix_aspect_ratio=True), written out independently."""
    radians = np.deg2rad(rotation)
    rot = np.array([[np.cos(radians), -np.sin(radians)], [np.sin(radians), np.cos(radians)]])
    src = np.zeros((3, 2), np.float32)
    dst = np.zeros((3, 2), np.float32)
    src[0] = center
    src[1] = center + rot @ np.array([scale[0] * -0.5, 0.0])
    dst[0] = [output_size[0] * 0.5, output_size[1] * 0.5]
    dst[1] = dst[0] + [output_size[0] * -0.5, 0.0]
    for points in (src, dst):
        d = points[0] - points[1]
        points[2] = points[1] + [-d[1], d[0]]
    return cv2.getAffineTransform(dst, src) if inverse else cv2.getAffineTransform(src, dst)


@pytest.mark.parametrize("rotation", [0.0, 25.0, -60.0, 180.0])
@pytest.mark.parametrize("inverse", [False, True])
def test_affine_matches_mmpose_construction(rotation, inverse):
    center, scale = np.array([321.5, 210.0]), np.array([150.0, 200.0])
    ours = get_affine_matrix(center, scale, rotation, (192, 256), inverse=inverse)
    np.testing.assert_allclose(ours, _reference_warp(center, scale, rotation, (192, 256), inverse), atol=2e-3)


def test_affine_maps_box_to_output():
    center, scale = np.array([100.0, 50.0]), np.array([60.0, 80.0])
    matrix = get_affine_matrix(center, scale, 0.0, (48, 64))
    corners = transform_points(np.array([[70.0, 10.0], [130.0, 90.0], [100.0, 50.0]]), matrix)
    np.testing.assert_allclose(corners, [[0, 0], [48, 64], [24, 32]], atol=1e-9)


def test_affine_round_trip_of_keypoints():
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 500, size=(7, 17, 2))
    for rotation in (0.0, 37.0, -59.0):
        forward = get_affine_matrix([250.0, 260.0], [180.0, 240.0], rotation, (192, 256))
        inverse = get_affine_matrix([250.0, 260.0], [180.0, 240.0], rotation, (192, 256), inverse=True)
        np.testing.assert_allclose(transform_points(transform_points(points, forward), inverse), points, atol=1e-9)
        np.testing.assert_allclose(invert_affine(forward), inverse, atol=1e-9)


def test_udp_matrix_maps_crop_edges_to_pixel_centres():
    center, scale = np.array([100.0, 80.0]), np.array([90.0, 120.0])
    matrix = get_udp_affine_matrix(center, scale, 0.0, (48, 64))
    points = transform_points(np.array([[55.0, 20.0], [145.0, 140.0], [100.0, 80.0]]), matrix)
    np.testing.assert_allclose(points, [[0, 0], [47, 63], [23.5, 31.5]], atol=1e-9)
    back = get_udp_affine_matrix(center, scale, 33.0, (48, 64), inverse=True)
    forward = get_udp_affine_matrix(center, scale, 33.0, (48, 64))
    np.testing.assert_allclose(transform_points(transform_points(points, back), forward), points, atol=1e-9)


def test_box_to_center_scale_fixes_aspect_then_pads():
    center, scale = box_xywh_to_center_scale(np.array([10.0, 20.0, 30.0, 80.0]), 0.75, padding=1.25)
    np.testing.assert_allclose(center, [25.0, 60.0])
    np.testing.assert_allclose(scale, [75.0, 100.0])  # width raised to 60 = 0.75 * 80, then ×1.25
    center, scale = box_xywh_to_center_scale(np.array([[0.0, 0.0, 120.0, 60.0]]), 0.75, padding=1.0)
    np.testing.assert_allclose(scale, [[120.0, 160.0]])
    np.testing.assert_allclose(center_scale_to_box_xywh(center, scale), [[0.0, -50.0, 120.0, 160.0]])
    with pytest.raises(ValueError, match="shape"):
        box_xywh_to_center_scale(np.zeros(3), 0.75)


def test_warp_image_follows_the_point_map():
    image = np.zeros((200, 300, 3), np.uint8)
    cv2.circle(image, (220, 60), 4, (255, 255, 255), -1)
    matrix = get_affine_matrix([200.0, 100.0], [120.0, 160.0], 30.0, (96, 128))
    crop = warp_image(image, matrix, (96, 128))
    assert crop.shape == (128, 96, 3)
    ys, xs = np.nonzero(crop[..., 0] > 128)
    expected = transform_points(np.array([220.0, 60.0]), matrix)
    np.testing.assert_allclose([xs.mean(), ys.mean()], expected, atol=0.6)


@pytest.mark.parametrize("info", list(metadata.DATASETS.values()), ids=lambda info: info.name)
def test_flip_twice_is_identity_and_pairs_are_symmetric(info):
    index = info.flip_index()
    assert sorted(index) == list(range(info.num_joints))
    assert [index[i] for i in index] == list(range(info.num_joints))
    for left, right in info.flip_pairs:
        left_name, right_name = info.joint_names[left], info.joint_names[right]
        assert left_name.replace("left", "").replace("l_", "") == right_name.replace("right", "").replace("r_", "")
    rng = np.random.default_rng(1)
    keypoints = rng.uniform(0, 100, (3, info.num_joints, 2))
    visible = rng.integers(0, 2, (3, info.num_joints)).astype(float)
    flipped, flipped_visible = flip_keypoints(keypoints, visible, 101.0, index)
    assert not np.allclose(flipped, keypoints)
    again, again_visible = flip_keypoints(flipped, flipped_visible, 101.0, index)
    np.testing.assert_allclose(again, keypoints)
    np.testing.assert_array_equal(again_visible, visible)


def test_posetrack_head_joints_are_not_flip_partners():
    info = metadata.POSETRACK18
    index = info.flip_index()
    assert index[1] == 1 and index[2] == 2
    assert index[3] == 4 and index[5] == 6


def test_flip_of_points_and_boxes_agree():
    box = np.array([10.0, 5.0, 30.0, 40.0])
    flipped = flip_boxes_xywh(box, 100.0)
    corners = flip_points(np.array([[10.0, 5.0], [40.0, 45.0]]), 100.0)
    np.testing.assert_allclose(flipped, [corners[:, 0].min(), 5.0, 30.0, 40.0])
    np.testing.assert_allclose(flip_boxes_xywh(flipped, 100.0), box)
    with pytest.raises(ValueError, match="joints"):
        flip_keypoints(np.zeros((5, 2)), np.zeros(5), 10.0, list(range(17)))
