"""Clips and heatmaps across crops: per-frame crops of a track, and ``warp_heatmaps`` moving heatmaps between them."""

import io
import itertools
import warnings

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vipnas.codec import CODECS, build_codec
from vipnas.data import synthpose
from vipnas.data.augment import AugmentConfig, CropParams
from vipnas.data.clips import JITTER_LIMIT, ClipDataset, find_clips
from vipnas.data.dataset import crop_image
from vipnas.data.files import read_image
from vipnas.data.sample import collate
from vipnas.data.transforms import box_xywh_to_center_scale, flip_points, invert_affine, transform_points
from vipnas.nn.warp import _grid, warp_heatmaps

INPUT = (192, 256)  # (width, height), as the datasets and codecs take it
HEATMAP = (48, 64)
ALWAYS = AugmentConfig(shift_prob=1.0, flip_prob=1.0, half_body_prob=0.0, rotation_prob=1.0)
IMAGE = np.zeros((480, 640, 3), np.uint8)  # only its width matters (the flip)

# Crops of one person as consecutive frames see it: moved, zoomed out, zoomed in and turned, mirrored and turned.
CROPS = [
    CropParams(np.array([320.0, 240.0]), np.array([150.0, 200.0]), 0.0, False),
    CropParams(np.array([340.0, 228.0]), np.array([150.0, 200.0]), 0.0, False),
    CropParams(np.array([315.0, 245.0]), np.array([180.0, 240.0]), 0.0, False),
    CropParams(np.array([325.0, 235.0]), np.array([130.0, 173.0]), 20.0, False),
    CropParams(np.array([639.0 - 320.0, 240.0]), np.array([160.0, 213.0]), -10.0, True),
]
POINTS = np.array([320.0, 240.0]) + np.array([[x, y] for x in (-35, 0, 35) for y in (-50, 0, 50)])  # image pixels


def _inverse_affine(params: CropParams, udp: bool) -> np.ndarray:
    """The dataset's ``Sample.inverse_affine`` of a crop (flip folded in)."""
    return invert_affine(crop_image(IMAGE, params, INPUT, udp=udp)[1])


def _centres(maps: np.ndarray, radius: float = 6.0) -> np.ndarray:
    """(K, h, w) → (K, 2) sub-pixel peak centres (x, y): the centroid in a disc, re-centred three times from the
    argmax (unbiased for a symmetric peak, whatever the warp did to its width)."""
    ys, xs = np.mgrid[0 : maps.shape[1], 0 : maps.shape[2]]
    centres = []
    for heatmap in maps:
        y, x = np.unravel_index(np.argmax(heatmap), heatmap.shape)
        cx, cy = float(x), float(y)
        for _ in range(3):
            weight = heatmap * (np.hypot(xs - cx, ys - cy) <= radius)
            cx, cy = (weight * xs).sum() / weight.sum(), (weight * ys).sum() / weight.sum()
        centres.append([cx, cy])
    return np.array(centres).reshape(-1, 2)


def _inside(points: np.ndarray, margin: float) -> np.ndarray:
    return (points >= margin).all(-1) & (points <= np.array(HEATMAP) - 1 - margin).all(-1)


# --- warp_heatmaps on synthetic crops ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", CODECS)
def test_a_gaussian_at_an_image_point_lands_on_that_point_in_every_other_crop(name):
    udp = name == "udp"
    codec = build_codec(name, input_size=INPUT, heatmap_size=HEATMAP)
    stride = codec.scale_factor.astype(np.float64)  # input pixels per heatmap pixel, the codec's own
    checked = 0
    for source, target in itertools.product(CROPS, CROPS):
        source_affine, target_affine = _inverse_affine(source, udp), _inverse_affine(target, udp)
        keypoints = transform_points(POINTS, invert_affine(source_affine))  # input pixels of the source crop
        heatmaps, _ = codec.encode(keypoints, np.ones(len(POINTS)))
        # msra draws the peak at the rounded heatmap pixel: that is the point the warp must carry over
        peaks = np.floor(keypoints / stride + 0.5) if name == "msra" else keypoints / stride
        expected = transform_points(transform_points(peaks * stride, source_affine), invert_affine(target_affine))
        expected /= stride  # heatmap pixels of the target crop
        warped = warp_heatmaps(torch.from_numpy(heatmaps), source_affine, target_affine, INPUT[::-1], udp=udp)
        assert warped.shape == heatmaps.shape and warped.dtype == torch.float32
        keep = _inside(peaks, 7) & _inside(expected, 7)
        found = _centres(warped.numpy()[keep])
        np.testing.assert_allclose(found, expected[keep], atol=0.1)
        truth = transform_points(POINTS, invert_affine(target_affine))[keep] / stride
        assert np.abs(found - truth).max() <= (0.75 if name == "msra" else 0.1)
        checked += keep.sum()
    assert checked >= 150


@pytest.mark.parametrize("name", CODECS)
def test_warping_coordinate_maps_gives_the_source_pixel_of_every_target_pixel(name):
    """Bilinear sampling reproduces affine functions exactly, so maps holding their own x and y coordinates come
    back as the exact source heatmap pixel of each target pixel: the pixel convention to float precision."""
    udp = name == "udp"
    stride = build_codec(name, input_size=INPUT, heatmap_size=HEATMAP).scale_factor.astype(np.float64)
    width, height = HEATMAP
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    maps = torch.from_numpy(np.stack([xs, ys, np.ones_like(xs)]).astype(np.float32))  # (3, h, w)
    target_pixels = np.stack([xs, ys], axis=-1)  # (h, w, 2)
    beyond = 0
    for source, target in itertools.product(CROPS, CROPS):
        source_affine, target_affine = _inverse_affine(source, udp), _inverse_affine(target, udp)
        warped = warp_heatmaps(maps, source_affine, target_affine, INPUT[::-1], udp=udp).numpy()
        image_points = transform_points(target_pixels * stride, target_affine)
        expected = transform_points(image_points, invert_affine(source_affine)) / stride  # (h, w, 2)
        inside = (expected >= 0).all(-1) & (expected <= [width - 1, height - 1]).all(-1)
        outside = (expected <= -1).any(-1) | (expected >= [width, height]).any(-1)
        assert inside.sum() > 1000
        np.testing.assert_allclose(np.moveaxis(warped[:2], 0, -1)[inside], expected[inside], atol=2e-3)
        np.testing.assert_allclose(warped[2][inside], 1.0, atol=1e-5)
        assert (warped[:, outside] == 0).all()  # zeros outside the source map
        beyond += outside.sum()
    assert beyond > 1000


def test_the_same_crop_on_both_sides_gives_the_heatmaps_back():
    heatmaps = torch.rand(3, 17, *HEATMAP[::-1], generator=torch.Generator().manual_seed(0))
    identity = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    torch.testing.assert_close(warp_heatmaps(heatmaps, identity, identity, INPUT[::-1]), heatmaps, atol=1e-5, rtol=0)
    for params, udp in itertools.product(CROPS, (False, True)):
        affine = _inverse_affine(params, udp)
        same = warp_heatmaps(heatmaps, affine, affine, INPUT[::-1], udp=udp)
        torch.testing.assert_close(same, heatmaps, atol=1e-4, rtol=0)


def test_a_batch_warps_as_its_samples_do_and_numpy_or_tensor_affines_agree():
    generator = torch.Generator().manual_seed(1)
    heatmaps = torch.rand(len(CROPS), 17, *HEATMAP[::-1], generator=generator)
    sources = np.stack([_inverse_affine(params, False) for params in CROPS])
    targets = sources[::-1].copy()
    batched = warp_heatmaps(heatmaps, sources, targets, INPUT[::-1])
    for index in range(len(CROPS)):
        single = warp_heatmaps(heatmaps[index], sources[index], targets[index], INPUT[::-1])
        torch.testing.assert_close(batched[index], single, atol=1e-6, rtol=0)
    as_tensors = warp_heatmaps(heatmaps, torch.from_numpy(sources), torch.from_numpy(targets), INPUT[::-1])
    torch.testing.assert_close(as_tensors, batched)
    shared = warp_heatmaps(heatmaps, sources[0], targets, INPUT[::-1])  # one (2, 3) serves the whole batch
    torch.testing.assert_close(shared[3], warp_heatmaps(heatmaps[3], sources[0], targets[3], INPUT[::-1]))
    assert not torch.allclose(batched, heatmaps, atol=1e-2)


def test_gradients_flow_to_the_heatmaps():
    source, target = _inverse_affine(CROPS[0], False), _inverse_affine(CROPS[3], False)
    small = torch.rand(1, 2, 8, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda maps: warp_heatmaps(maps, source, target, (32, 24)), (small,))
    heatmaps = torch.rand(2, 17, *HEATMAP[::-1], requires_grad=True)
    warp_heatmaps(heatmaps, source, target, INPUT[::-1]).square().sum().backward()
    assert heatmaps.grad is not None and torch.isfinite(heatmaps.grad).all() and heatmaps.grad.abs().sum() > 0


def test_the_grid_is_affine_grids():
    theta = torch.randn(3, 2, 3, generator=torch.Generator().manual_seed(2))
    expected = F.affine_grid(theta, [3, 1, 7, 5], align_corners=True)
    torch.testing.assert_close(_grid(theta, 7, 5), expected, atol=1e-6, rtol=0)


def test_warp_exports_to_onnx_and_runs_in_onnx_runtime():
    ort = pytest.importorskip("onnxruntime")

    class Warp(torch.nn.Module):
        def forward(self, heatmaps, source, target):
            return warp_heatmaps(heatmaps, source, target, INPUT[::-1])

    heatmaps = torch.rand(2, 17, *HEATMAP[::-1], generator=torch.Generator().manual_seed(3))
    source = torch.from_numpy(np.stack([_inverse_affine(CROPS[0], False), _inverse_affine(CROPS[4], False)]))
    target = torch.from_numpy(np.stack([_inverse_affine(CROPS[3], False), _inverse_affine(CROPS[1], False)]))
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Warp(), (heatmaps, source, target), buffer, dynamo=False, opset_version=17)
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    names = [node.name for node in session.get_inputs()]
    (output,) = session.run(None, dict(zip(names, (heatmaps.numpy(), source.numpy(), target.numpy()), strict=True)))
    np.testing.assert_allclose(output, Warp()(heatmaps, source, target).numpy(), atol=1e-5)


def test_bad_arguments_are_named():
    heatmaps = torch.rand(2, 17, *HEATMAP[::-1])
    affine = _inverse_affine(CROPS[0], False)
    with pytest.raises(ValueError, match=r"\(height, width\)"):
        warp_heatmaps(heatmaps, affine, affine, INPUT)  # (width, height) by mistake
    with pytest.raises(ValueError, match="source_inverse_affine"):
        warp_heatmaps(heatmaps, affine[:, :2], affine, INPUT[::-1])
    with pytest.raises(ValueError, match="3 affines for 2"):
        warp_heatmaps(heatmaps, affine, np.stack([affine] * 3), INPUT[::-1])
    with pytest.raises(ValueError, match="heatmaps"):
        warp_heatmaps(heatmaps[0, 0], affine, affine, INPUT[::-1])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_warp_on_the_gpu_matches_the_cpu():
    heatmaps = torch.rand(4, 17, *HEATMAP[::-1], generator=torch.Generator().manual_seed(4))
    sources = np.stack([_inverse_affine(params, False) for params in CROPS[:4]])
    targets = np.stack([_inverse_affine(params, False) for params in CROPS[1:]])
    on_cpu = warp_heatmaps(heatmaps, sources, targets, INPUT[::-1])
    on_gpu = warp_heatmaps(heatmaps.cuda(), sources, targets, INPUT[::-1])
    assert on_gpu.device.type == "cuda"
    torch.testing.assert_close(on_gpu.cpu(), on_cpu, atol=1e-5, rtol=0)
    half = warp_heatmaps(heatmaps.cuda().half(), torch.from_numpy(sources).cuda(), targets, INPUT[::-1])
    assert half.dtype == torch.float16
    torch.testing.assert_close(half.float().cpu(), on_cpu, atol=2e-2, rtol=0)


# --- ClipDataset on SynthPose videos ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def videos(synth_root):
    """Both SynthPose videos of the shared fixture (8 frames each), as PoseTrack18 annotations."""
    return [synthpose.load(synth_root, split, videos=True) for split in ("train", "val")]


def _frame_order(sample, info, t):
    """The sample's joint order in frame t: the original joints, left and right swapped after a flip."""
    return np.asarray(info.flip_index()) if sample.flip[t] else np.arange(info.num_joints)


def test_without_augmentation_each_frame_is_cropped_from_its_own_box(videos):
    moved = 0
    for annotations in videos:
        clips = find_clips(annotations, 4)
        dataset = ClipDataset(annotations, frames=4, input_size=(96, 128))
        assert len(dataset) == len(clips) > 0
        for clip, sample in zip(clips, (dataset[i] for i in range(len(dataset))), strict=True):
            boxes = np.stack([instance.box for instance in clip])
            center, scale = box_xywh_to_center_scale(boxes, 96 / 128, 1.25)
            np.testing.assert_allclose(sample.center, center)
            np.testing.assert_allclose(sample.scale, scale)
            moved += int((np.abs(np.diff(center, axis=0)).max(axis=1) > 1.0).sum())
            for t, instance in enumerate(clip):
                # the crop of frame t is exactly its image under that frame's own affine
                forward = invert_affine(sample.inverse_affine[t])
                expected = cv2.warpAffine(read_image(instance.image.path), forward, (96, 128), flags=cv2.INTER_LINEAR)
                pixels = sample.image[t].numpy().transpose(1, 2, 0) * dataset.std + dataset.mean
                assert np.abs(pixels - expected).max() < 0.01
                inside = instance.visible > 0
                np.testing.assert_allclose(
                    sample.keypoints[t][inside], transform_points(instance.keypoints, forward)[inside], atol=1e-3
                )
    assert moved >= 10  # the people move: the frames' crops differ


def test_shared_augmentation_is_drawn_once_per_clip_and_jitter_once_per_frame(videos):
    annotations = videos[1]
    info = annotations.info
    plain = ClipDataset(annotations, frames=4, input_size=(96, 128))
    for jitter in (0.0, 0.03):
        dataset = ClipDataset(
            annotations, frames=4, input_size=(96, 128), augment=ALWAYS, jitter_shift=jitter, jitter_scale=jitter
        )
        for index in range(len(dataset)):
            sample, reference = dataset[index], plain[index]
            assert sample.flip.all() and (sample.rotation == sample.rotation[0]).all() and sample.rotation[0] != 0
            widths = sample.image_size[:, 0]
            centers = np.stack([flip_points(c, w) for c, w in zip(sample.center, widths, strict=True)])
            shift = (centers - reference.center) / reference.scale  # shared shift + per-frame jitter, per frame
            zoom = sample.scale[:, 0] / reference.scale[:, 0]  # shared factor × per-frame jitter
            spread_shift, spread_zoom = np.ptp(shift, axis=0).max(), np.ptp(zoom) / zoom.min()
            if jitter == 0:
                assert spread_shift < 1e-9 and spread_zoom < 1e-9
            else:
                assert 0 < spread_shift <= 2 * JITTER_LIMIT * jitter + 1e-9
                assert 0 < spread_zoom <= 2 * JITTER_LIMIT * jitter / (1 - JITTER_LIMIT * jitter) + 1e-9
            assert np.abs(shift).max() <= ALWAYS.shift_factor + JITTER_LIMIT * jitter + 1e-9
            for t in range(4):
                order = _frame_order(sample, info, t)
                np.testing.assert_array_equal(sample.visible[t], reference.visible[t][order])
    again = ClipDataset(annotations, frames=4, input_size=(96, 128), augment=ALWAYS)
    np.testing.assert_array_equal(again[2].inverse_affine, dataset[2].inverse_affine)  # (seed, epoch, index)
    again.set_epoch(1)
    assert not np.allclose(again[2].inverse_affine, dataset[2].inverse_affine)
    with pytest.raises(ValueError, match="jitter_scale"):
        ClipDataset(annotations, jitter_scale=0.3)


def _target_peaks(keypoints: np.ndarray, stride: np.ndarray, name: str) -> np.ndarray:
    """Where the codec draws each target's peak, in heatmap pixels (msra: the rounded pixel)."""
    peaks = keypoints / stride
    return np.floor(peaks + 0.5) if name == "msra" else peaks


@pytest.mark.parametrize("name", CODECS)
def test_targets_warped_between_frames_land_on_the_joints_in_the_other_crop(videos, name):
    """Frame t's targets warped from crop t into crop t-1 peak at frame t's joints seen in crop t-1; frame t-1's
    targets warped into crop t (what propagation feeds frame t) peak where frame t's targets are, up to the
    person's motion between the frames. Joints come from the raw annotations, not from the sample."""
    udp = name == "udp"
    codec = build_codec(name, input_size=INPUT, heatmap_size=HEATMAP)
    stride = codec.scale_factor.astype(np.float64)
    checked, moved, unwarped_off = 0, 0, 0
    for annotations in videos:
        dataset = ClipDataset(annotations, frames=4, input_size=INPUT, codec=codec, udp=udp, augment=ALWAYS, seed=7)
        for index, clip in enumerate(dataset.clips):
            sample = dataset[index]
            heatmaps = sample.heatmaps.numpy()  # (T+1, K, h, w)
            affines = sample.inverse_affine  # (T+1, 2, 3): input pixels of crop t → image pixels
            weights = sample.target_weight.numpy()  # (T+1, K)
            maps = torch.from_numpy(heatmaps)
            back = warp_heatmaps(maps[1:], affines[1:], affines[:-1], INPUT[::-1], udp=udp).numpy()  # t → t-1
            forth = warp_heatmaps(maps[:-1], affines[:-1], affines[1:], INPUT[::-1], udp=udp).numpy()  # t-1 → t
            for t in range(1, len(clip)):
                into_previous, into_current = invert_affine(affines[t - 1]), invert_affine(affines[t])
                order = _frame_order(sample, annotations.info, t)
                joints = clip[t].keypoints[order]  # frame t's joints in the image, in the sample's joint order
                labelled = sample.visible[t] > 0
                np.testing.assert_allclose(
                    sample.keypoints[t][labelled], transform_points(joints, into_current)[labelled], atol=1e-3
                )
                # frame t's targets in crop t-1: at their image points, seen from crop t-1
                peaks = _target_peaks(sample.keypoints[t], stride, name)
                expected = transform_points(transform_points(peaks * stride, affines[t]), into_previous) / stride
                keep = (weights[t] > 0) & _inside(peaks, 7) & _inside(expected, 7)
                np.testing.assert_allclose(_centres(back[t - 1][keep]), expected[keep], atol=0.1)
                unwarped = np.abs(_centres(heatmaps[t][keep]) - expected[keep]).max(-1)
                unwarped_off += (unwarped > 0.5).sum()  # the crops differ: without the warp this would fail
                checked += keep.sum()
                # frame t-1's targets in crop t: frame t's target peaks plus the motion, both seen from crop t
                before = _target_peaks(sample.keypoints[t - 1], stride, name)
                arrived = transform_points(transform_points(before * stride, affines[t - 1]), into_current) / stride
                both = keep & (weights[t - 1] > 0) & _inside(before, 7) & _inside(arrived, 7)
                motion = arrived - peaks
                found = _centres(forth[t - 1][both]) - _centres(heatmaps[t][both])
                np.testing.assert_allclose(found, motion[both], atol=0.15)
                joint_motion = (clip[t - 1].keypoints[order] - joints) @ into_current[:, :2].T / stride
                moved += (np.abs(joint_motion[both]).max(-1) > 0.5).sum()
    assert checked >= 300 and moved >= 100 and unwarped_off >= 100


def test_clips_stack_per_frame_fields_and_collate(videos):
    annotations = videos[0]
    clips = find_clips(annotations, 3)
    assert clips and all(len(clip) == 3 for clip in clips)
    codec = build_codec("msra", input_size=(96, 128), heatmap_size=(24, 32))
    dataset = ClipDataset(annotations, frames=3, codec=codec, input_size=(96, 128), augment=AugmentConfig(), seed=4)
    sample = dataset[0]
    assert sample.image.shape == (3, 3, 128, 96) and sample.heatmaps.shape == (3, 17, 32, 24)
    assert sample.target_weight.shape == (3, 17) and sample.keypoints.shape == (3, 17, 2)
    assert sample.inverse_affine.shape == (3, 2, 3) and sample.center.shape == (3, 2)
    assert np.all(np.diff(sample.image_id) == 1) and len({p.rsplit("/", 2)[1] for p in sample.image_path}) == 1
    assert sample.track_id == clips[0][0].track_id
    batch = collate([dataset[0], dataset[1]])
    assert batch.image.shape == (2, 3, 3, 128, 96) and batch.image_id.shape == (2, 3)
    assert batch.inverse_affine.shape == (2, 3, 2, 3)
    with pytest.raises(ValueError, match="frames"):
        find_clips(annotations, 0)
