"""The top-down dataset: crops, targets, inverse affine, flips, determinism, collate, clips."""

import cv2
import numpy as np
import pytest
import torch
from samples import SHARED

from vipnas.codec import MSRAHeatmap, UDPHeatmap
from vipnas.data.augment import AugmentConfig, sample_crop
from vipnas.data.coco import load_coco
from vipnas.data.dataset import TopDownDataset, build_loader
from vipnas.data.files import read_image
from vipnas.data.metadata import COCO
from vipnas.data.posetrack import load_posetrack_videos
from vipnas.data.records import ImageRecord, PoseAnnotations, PoseInstance
from vipnas.data.sample import collate
from vipnas.data.transforms import transform_points

REAL = SHARED  # every image and video: the data tests skip without it
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason=f"real samples not found at {REAL}")
ALWAYS = AugmentConfig(shift_prob=1.0, flip_prob=1.0, half_body_prob=0.0, rotation_prob=1.0)


@pytest.fixture(scope="module")
def coco():
    return load_coco(REAL / "coco" / "test_coco.json", REAL / "coco")


@needs_real
def test_sample_crop_matches_a_plain_warp(coco):
    dataset = TopDownDataset(coco, codec=MSRAHeatmap())
    sample = dataset[0]
    assert sample.image.shape == (3, 256, 192) and sample.image.dtype == torch.float32
    assert sample.heatmaps.shape == (17, 64, 48) and sample.target_weight.shape == (17,)
    assert sample.image_id == 785 and sample.annotation_id == 442619 and not sample.flip
    forward = np.linalg.inv(np.vstack([sample.inverse_affine, [0, 0, 1]]))[:2]
    expected = cv2.warpAffine(
        read_image(REAL / "coco" / "000000000785.jpg"), forward, (192, 256), flags=cv2.INTER_LINEAR
    )
    pixels = sample.image.numpy().transpose(1, 2, 0) * dataset.std + dataset.mean
    np.testing.assert_allclose(pixels, expected, atol=1e-3)
    instance = coco.instances[0]
    back = transform_points(sample.keypoints, sample.inverse_affine)
    np.testing.assert_allclose(back[instance.visible > 0], instance.keypoints[instance.visible > 0], atol=1e-3)
    width, height = sample.scale
    assert width / height == pytest.approx(192 / 256)


@needs_real
@pytest.mark.parametrize("index", range(6))
def test_augmented_keypoints_map_back_through_flip_and_rotation(coco, index):
    dataset = TopDownDataset(coco, augment=ALWAYS, seed=index)
    sample = dataset[index]
    instance = coco.instances[index]
    assert sample.flip and sample.rotation != 0.0
    order = np.array(COCO.flip_index())
    back = transform_points(sample.keypoints, sample.inverse_affine)  # joint j of the sample is joint order[j]
    labelled = instance.visible[order] > 0
    np.testing.assert_allclose(back[labelled], instance.keypoints[order][labelled], atol=1e-3)
    np.testing.assert_array_equal(sample.visible, instance.visible[order])


def _dot_dataset(tmp_path, flip_prob):
    image = np.zeros((240, 320, 3), np.uint8)
    keypoints = np.zeros((17, 2))
    visible = np.zeros(17)
    keypoints[9], visible[9] = (100.0, 90.0), 1  # left wrist: a bright dot
    keypoints[10], visible[10] = (200.0, 150.0), 1  # right wrist: nothing drawn
    cv2.circle(image, (100, 90), 3, (255, 255, 255), -1)
    cv2.imwrite(str(tmp_path / "dot.png"), image)
    record = ImageRecord(image_id=7, path=tmp_path / "dot.png", width=320, height=240)
    instance = PoseInstance(record, 1, np.array([60.0, 40.0, 180.0, 160.0]), keypoints, visible)
    augment = AugmentConfig(shift_prob=0, flip_prob=flip_prob, half_body_prob=0, rotation_prob=1.0)
    return TopDownDataset(PoseAnnotations(COCO, tmp_path, {7: record}, [instance]), augment=augment, seed=1)


@pytest.mark.parametrize("flip", [False, True])
def test_pixels_and_keypoints_move_together(tmp_path, flip):
    sample = _dot_dataset(tmp_path, 1.0 if flip else 0.0)[0]
    assert sample.flip == flip
    crop = sample.image.numpy()[0]
    ys, xs = np.nonzero(crop > (crop.max() + crop.min()) / 2)
    x, y = xs.mean(), ys.mean()  # centre of the bright dot
    # After a flip the original left wrist is the mirrored image's right wrist (joint 10).
    joint = 10 if flip else 9
    np.testing.assert_allclose([x, y], sample.keypoints[joint], atol=0.75)


@needs_real
@pytest.mark.parametrize("unbiased", [False, True])
def test_targets_decode_within_half_a_heatmap_pixel(coco, unbiased):
    codec = MSRAHeatmap(unbiased=unbiased)
    dataset = TopDownDataset(coco, codec=codec, augment=AugmentConfig(), seed=5)
    errors = []
    for index in range(len(dataset)):
        sample = dataset[index]
        decoded, _ = codec.decode(sample.heatmaps.numpy())
        position = sample.keypoints / 4.0  # heatmap pixels (stride 4)
        on_map = (position >= 0).all(axis=1) & (position[:, 0] <= 47) & (position[:, 1] <= 63)
        weight = (sample.target_weight.numpy() > 0) & on_map  # off-map joints keep only a clipped Gaussian
        error = np.abs(decoded / 4.0 - position)[weight]
        errors.append(error.ravel())
    errors = np.concatenate(errors)
    assert len(errors) > 200 and errors.max() <= 0.5 + 1e-4
    if unbiased:  # DARK is exact away from the map border
        assert np.median(errors) < 0.01


@needs_real
def test_udp_affine_with_udp_codec(coco):
    codec = UDPHeatmap()
    dataset = TopDownDataset(coco, codec=codec, udp=True, augment=ALWAYS, seed=2)
    sample = dataset[3]
    decoded, _ = codec.decode(sample.heatmaps.numpy())
    position = sample.keypoints / np.array([191 / 47, 255 / 63])  # UDP: pixel-centre aligned stride
    on_map = (position >= 0).all(axis=1) & (position[:, 0] <= 47) & (position[:, 1] <= 63)
    weight = (sample.target_weight.numpy() > 0) & on_map
    assert weight.sum() > 5
    assert np.abs(decoded - sample.keypoints)[weight].max() <= 0.5 * 4.1
    instance = coco.instances[3]
    order = np.array(COCO.flip_index())
    back = transform_points(sample.keypoints, sample.inverse_affine)
    labelled = instance.visible[order] > 0
    np.testing.assert_allclose(back[labelled], instance.keypoints[order][labelled], atol=1e-3)


def test_sample_crop_distribution():
    rng = np.random.default_rng(0)
    keypoints = np.random.default_rng(1).uniform(100, 300, (17, 2))
    box = np.array([100.0, 100.0, 200.0, 200.0])
    draws = [
        sample_crop(
            box,
            keypoints,
            np.ones(17),
            640,
            aspect_ratio=0.75,
            padding=1.25,
            info=COCO,
            config=AugmentConfig(half_body_prob=0.0),
            rng=rng,
        )
        for _ in range(3000)
    ]
    rotations = np.array([d.rotation for d in draws])
    ratios = np.array([d.scale[0] / 250.0 for d in draws])  # unaugmented width: 200 × 1.25
    flips = np.array([d.flip for d in draws])
    assert np.abs(rotations).max() <= 60 and 0.55 < np.mean(rotations != 0) < 0.65
    assert ratios.min() >= 0.75 - 1e-9 and ratios.max() <= 1.25 + 1e-9 and ratios.std() > 0.15
    assert 0.45 < flips.mean() < 0.55
    half = sample_crop(
        box,
        keypoints,
        np.ones(17),
        640,
        aspect_ratio=0.75,
        padding=1.25,
        info=COCO,
        config=AugmentConfig(half_body_prob=1.0, scale_factor=0.0, shift_prob=0, flip_prob=0, rotation_prob=0),
        rng=rng,
    )
    assert half.scale[0] != pytest.approx(250.0)


@needs_real
def test_augmentation_is_seeded_per_sample_and_independent_of_workers(coco):
    dataset = TopDownDataset(coco, codec=MSRAHeatmap(), augment=AugmentConfig(), seed=11)
    first, again = dataset[2], dataset[2]
    assert torch.equal(first.image, again.image) and first.rotation == again.rotation
    dataset.set_epoch(1)
    assert dataset[2].rotation != first.rotation or dataset[2].flip != first.flip
    dataset.set_epoch(0)
    batches = []
    for workers in (0, 2):
        loader = build_loader(dataset, batch_size=4, shuffle=True, num_workers=workers, seed=3)
        batches.append(next(iter(loader)))
    np.testing.assert_array_equal(batches[0].annotation_id, batches[1].annotation_id)
    assert torch.equal(batches[0].image, batches[1].image)
    assert torch.equal(batches[0].heatmaps, batches[1].heatmaps)


@needs_real
def test_collate_keeps_posetrack_ids_and_types():
    videos = load_posetrack_videos(REAL / "posetrack18" / "annotations" / "val", REAL / "posetrack18")
    codec = MSRAHeatmap(input_size=(96, 128), heatmap_size=(24, 32))
    dataset = TopDownDataset(videos, codec=codec, input_size=(96, 128))
    with pytest.raises(ValueError, match="input_size"):
        TopDownDataset(videos, input_size=(0, 128))
    batch = collate([dataset[i] for i in range(len(dataset))])
    assert len(batch) == 14 and batch.image.shape == (14, 3, 128, 96)
    assert batch.image_id.dtype == np.int64 and set(batch.image_id) == {10034180000, 10094730000, 10128340000}
    assert set(batch.annotation_id) == {i.annotation_id for i in videos.instances}
    assert batch.annotation_id.max() == 1012834000010
    assert batch.track_id.tolist() == [i.track_id for i in videos.instances]
    assert batch.inverse_affine.shape == (14, 2, 3) and batch.flip.dtype == np.bool_
    assert batch.image_size.tolist()[0] == [1920, 1080] and len(batch.image_path) == 14
    moved = batch.to("cpu")
    assert moved.heatmaps.shape == (14, 17, 32, 24) and moved.target_weight.shape == (14, 17)
    with pytest.raises(ValueError, match="empty"):
        collate([])
