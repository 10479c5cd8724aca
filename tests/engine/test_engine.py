"""The local face engine on the fixture photos: detection, order, swaps, errors and odd sizes."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
from engine_helpers import decode, encode, face_mask, iou, psnr
from swapgate.engine import get_engine
from swapgate.engine.imageinfo import read_info
from swapgate.errors import (
    FaceIndexOutOfRange,
    ImageTooLarge,
    InvalidImage,
    InvalidRequest,
    NoFaceDetected,
    SwapgateError,
)

OUTSIDE_PSNR_DB = 40.0  # JPEG re-encoding alone stays above this; PNG results are identical outside
INSIDE_MEAN_ABS_DIFF = 8.0  # a swapped face differs from the old one by far more than this


def check_swap(engine, source: bytes, result: bytes) -> None:
    """The face region changed, the rest did not, and one face is still found where it was."""
    before = decode(source)[..., :3]
    after = decode(result)[..., :3]
    assert after.shape == before.shape
    mask = face_mask(engine, before)
    assert mask.any()
    assert psnr(before[~mask], after[~mask]) > OUTSIDE_PSNR_DB
    changed = np.abs(before[mask].astype(np.int16) - after[mask].astype(np.int16)).mean()
    assert changed > INSIDE_MEAN_ABS_DIFF
    old_boxes, new_boxes = engine.detect(source), engine.detect(result)
    assert len(new_boxes) == len(old_boxes)
    for old, new in zip(old_boxes, new_boxes, strict=True):
        assert iou(old, new) > 0.6


# --- detection ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "size"), [("astronaut.png", (512, 512)), ("grace_hopper.jpg", (512, 600))])
def test_one_face_found_in_portraits(engine, photo, name, size):
    boxes = engine.detect(photo(name))
    assert len(boxes) == 1
    x1, y1, x2, y2 = boxes[0]
    assert 0 <= x1 < x2 <= size[0] and 0 <= y1 < y2 <= size[1]
    assert all(isinstance(v, int) for v in boxes[0])
    # a face box, not the whole picture: between 5 % and 50 % of the width
    assert 0.05 * size[0] < x2 - x1 < 0.5 * size[0]


def test_both_faces_in_two_faces_left_to_right(engine, photo):
    boxes = engine.detect(photo("two_faces.jpg"))
    assert len(boxes) == 2
    centres = [((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in boxes]
    assert centres[0][0] < centres[1][0]
    # the left one is the astronaut (same pixels as astronaut.png), the right one Grace Hopper
    (astronaut,) = engine.detect(photo("astronaut.png"))
    assert iou(boxes[0], astronaut) > 0.8
    assert boxes[1][0] > 512


def test_order_is_stable_and_deterministic(engine, photo):
    data = photo("two_faces.jpg")
    assert engine.detect(data) == engine.detect(data)


def test_order_top_to_bottom_when_centres_align(engine, photo):
    # two copies of the astronaut's face stacked vertically at the same x: the upper one comes first
    img = decode(photo("astronaut.png"))[..., :3]
    crop = img[30:230, 126:326]
    canvas = np.full((400, 200, 3), 200, np.uint8)
    canvas[:200] = crop
    canvas[200:] = cv2.flip(crop, 1)  # mirrored, so the faces are not pixel-identical
    boxes = engine.detect(encode(canvas))
    assert len(boxes) == 2
    assert boxes[0][1] < boxes[1][1]


def test_cat_has_no_face(engine, photo):
    assert engine.detect(photo("no_face_cat.png")) == []


def test_faces_have_468_points_inside_their_box(engine, photo):
    img = decode(photo("grace_hopper.jpg"))
    (face,) = engine.faces(img)
    assert face.points.shape == (468, 2)
    x1, y1, x2, y2 = face.box
    centre = face.points.mean(axis=0)
    assert x1 < centre[0] < x2 and y1 < centre[1] < y2


# --- swapping ----------------------------------------------------------------------------------


def test_swap_png_source(engine, photo):
    source = photo("astronaut.png")
    result = engine.swap(source, photo("grace_hopper.jpg"))
    assert result[:8] == b"\x89PNG\r\n\x1a\n"
    check_swap(engine, source, result)
    # PNG out: outside the face not one pixel differs
    before, after = decode(source), decode(result)
    mask = face_mask(engine, before)
    assert np.array_equal(before[~mask], after[~mask])


def test_swap_jpeg_source_gives_jpeg(engine, photo):
    source = photo("grace_hopper.jpg")
    result = engine.swap(source, photo("astronaut.png"))
    assert result[:3] == b"\xff\xd8\xff"
    check_swap(engine, source, result)


def test_swap_aligns_the_face(engine, photo):
    # A face swapped onto itself lands where it was: the face region barely changes. A misaligned
    # warp (wrong triangle, wrong point order) would change it as much as a foreign face does.
    source = photo("astronaut.png")
    before = decode(source)[..., :3]
    mask = face_mask(engine, before, dilate=0)
    itself = decode(engine.swap(source, source))[..., :3]
    other = decode(engine.swap(source, photo("grace_hopper.jpg")))[..., :3]
    assert psnr(before[mask], itself[mask]) > 24
    assert psnr(before[mask], other[mask]) < 20


def test_swap_keeps_transparency(engine, photo):
    img = decode(photo("astronaut.png"))[..., :3]
    alpha = np.full(img.shape[:2], 255, np.uint8)
    alpha[:, :40] = 0
    result = engine.swap(encode(np.dstack([img, alpha])), photo("grace_hopper.jpg"))
    out = decode(result)
    assert out.shape == (512, 512, 4)
    assert np.array_equal(out[..., 3], alpha)


def test_multi_swap_one_index_leaves_the_other_face(engine, photo):
    source = photo("two_faces.jpg")
    result = engine.multi_swap(source, [photo("astronaut.png")], [1])
    before, after = decode(source), decode(result)
    boxes = engine.detect(source)
    left_end = boxes[1][0] - 20  # everything left of Grace Hopper's face
    assert psnr(before[:, :left_end], after[:, :left_end]) > OUTSIDE_PSNR_DB
    x1, y1, x2, y2 = boxes[1]
    region = (slice(y1, y2), slice(x1, x2))
    assert np.abs(before[region].astype(np.int16) - after[region].astype(np.int16)).mean() > 8
    assert len(engine.detect(result)) == 2


def test_multi_swap_both_faces(engine, photo):
    source = photo("two_faces.jpg")
    result = engine.multi_swap(source, [photo("grace_hopper.jpg"), photo("astronaut.png")], [0, 1])
    check_swap(engine, source, result)


def test_multi_swap_order_of_pairs_does_not_matter(engine, photo):
    source = photo("two_faces.jpg")
    a, g = photo("astronaut.png"), photo("grace_hopper.jpg")
    one = decode(engine.multi_swap(source, [g, a], [0, 1]))
    two = decode(engine.multi_swap(source, [a, g], [1, 0]))
    assert psnr(one, two) > 45


def test_largest_face_of_the_face_image_is_used(engine, photo):
    # two_faces.jpg as the face image: Grace Hopper's face there is the larger one
    source = photo("astronaut.png")
    from_group = decode(engine.swap(source, photo("two_faces.jpg")))
    from_grace = decode(engine.swap(source, photo("grace_hopper.jpg")))
    from_astronaut = decode(engine.swap(source, source))
    mask = face_mask(engine, decode(source), dilate=0)
    assert psnr(from_group[mask], from_grace[mask]) > psnr(from_group[mask], from_astronaut[mask])


def test_threads_share_one_engine(engine, photo):
    source, face = photo("astronaut.png"), photo("grace_hopper.jpg")
    expected = engine.swap(source, face)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: engine.swap(source, face), range(4)))
    assert all(r == expected for r in results)


def test_get_engine_is_one_instance():
    assert get_engine() is get_engine()


# --- errors ------------------------------------------------------------------------------------


def test_cat_as_source(engine, photo):
    with pytest.raises(NoFaceDetected) as err:
        engine.swap(photo("no_face_cat.png"), photo("astronaut.png"))
    assert err.value.code == "no_face_detected"
    assert err.value.field == "source_image"
    assert "source image" in err.value.message


def test_cat_as_face(engine, photo):
    with pytest.raises(NoFaceDetected) as err:
        engine.swap(photo("astronaut.png"), photo("no_face_cat.png"))
    assert err.value.field == "face_image"
    assert "face image" in err.value.message


def test_cat_among_several_face_images_is_named(engine, photo):
    with pytest.raises(NoFaceDetected) as err:
        engine.multi_swap(photo("two_faces.jpg"), [photo("astronaut.png"), photo("no_face_cat.png")], [0, 1])
    assert err.value.field == "face_image"
    assert "face image 1" in err.value.message


@pytest.mark.parametrize("indexes", [[2], [-1], [0, 5]])
def test_index_out_of_range(engine, photo, indexes):
    faces = [photo("astronaut.png")] * len(indexes)
    with pytest.raises(FaceIndexOutOfRange) as err:
        engine.multi_swap(photo("two_faces.jpg"), faces, indexes)
    assert err.value.code == "face_index_out_of_range"
    assert err.value.field == "indexes"
    assert "2 faces" in err.value.message


@pytest.mark.parametrize(("faces", "indexes"), [(1, [0, 1]), (2, [0, 0]), (0, []), (1, ["0"]), (1, [True])])
def test_bad_index_lists(engine, photo, faces, indexes):
    with pytest.raises(InvalidRequest) as err:
        engine.multi_swap(photo("two_faces.jpg"), [photo("astronaut.png")] * faces, indexes)
    assert not isinstance(err.value, FaceIndexOutOfRange)


def _truncated_png(photo) -> bytes:
    return photo("astronaut.png")[:200]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, not an image",
        b"%PDF-1.7\n" + b"\x00" * 100,
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 8,  # PNG signature, no header
        b"\xff\xd8\xff\xe0" + b"\x00" * 20,  # JPEG start, no frame
        b"GIF89a" + b"\x00" * 20,
    ],
    ids=["empty", "text", "pdf", "png-no-ihdr", "jpeg-no-frame", "gif"],
)
def test_invalid_bytes(engine, photo, data):
    with pytest.raises(InvalidImage) as err:
        engine.swap(data, photo("astronaut.png"))
    assert err.value.code == "invalid_image"
    assert err.value.field == "source_image"
    with pytest.raises(InvalidImage) as err:
        engine.swap(photo("astronaut.png"), data)
    assert err.value.field == "face_image"
    with pytest.raises(InvalidImage):
        engine.detect(data)


def test_truncated_image_data(engine, photo):
    # the header is fine, the pixels are cut off: OpenCV cannot decode it
    with pytest.raises(InvalidImage):
        engine.detect(_truncated_png(photo))


def test_error_messages_carry_no_image_bytes(engine):
    with pytest.raises(InvalidImage) as err:
        engine.detect(b"secret-bytes-\x00\x01")
    assert "secret" not in str(err.value) and "secret" not in repr(err.value)


def test_header_announcing_huge_image_is_refused_before_decoding():
    # a PNG header claiming 100000 x 100000 pixels
    header = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + (100000).to_bytes(4, "big") * 2 + b"\x08\x02"
    with pytest.raises(ImageTooLarge):
        read_info(header + b"\x00" * 20)


def test_header_sizes(photo):
    info = read_info(photo("astronaut.png"))
    assert (info.format, info.width, info.height) == ("png", 512, 512)
    info = read_info(photo("grace_hopper.jpg"))
    assert (info.format, info.width, info.height) == ("jpeg", 512, 600)
    webp = cv2.imencode(".webp", np.zeros((30, 70, 3), np.uint8))[1].tobytes()
    info = read_info(webp)
    assert (info.format, info.width, info.height) == ("webp", 70, 30)


# --- odd sizes and faces at the edge -------------------------------------------------------------


@pytest.mark.parametrize("side", [1, 2, 16, 48])
def test_tiny_images(engine, photo, side):
    img = cv2.resize(decode(photo("astronaut.png"))[..., :3], (side, side), interpolation=cv2.INTER_AREA)
    data = encode(img)
    assert engine.detect(data) == []
    with pytest.raises(NoFaceDetected) as err:
        engine.swap(data, photo("grace_hopper.jpg"))
    assert err.value.field == "source_image"
    with pytest.raises(NoFaceDetected) as err:
        engine.swap(photo("grace_hopper.jpg"), data)
    assert err.value.field == "face_image"


def test_small_but_findable_face(engine, photo):
    img = cv2.resize(decode(photo("astronaut.png"))[..., :3], (192, 192), interpolation=cv2.INTER_AREA)
    source = encode(img)
    assert len(engine.detect(source)) == 1
    check_swap(engine, source, engine.swap(source, photo("grace_hopper.jpg")))


@pytest.mark.parametrize(
    "crop",
    [
        (slice(None), slice(200, None)),  # face cut by the left edge
        (slice(None), slice(None, 250)),  # face cut by the right edge
        (slice(None, 150), slice(None)),  # chin cut by the bottom edge
        (slice(80, None), slice(None)),  # forehead cut by the top edge
        (slice(None), slice(225, None)),  # most of the face gone
    ],
    ids=["left", "right", "bottom", "top", "mostly-gone"],
)
def test_faces_at_the_frame_edge(engine, photo, crop):
    img = np.ascontiguousarray(decode(photo("astronaut.png"))[crop][..., :3])
    source = encode(img)
    boxes = engine.detect(source)
    for x1, y1, x2, y2 in boxes:
        assert 0 <= x1 < x2 <= img.shape[1] and 0 <= y1 < y2 <= img.shape[0]
    try:
        result = engine.swap(source, photo("grace_hopper.jpg"))
    except NoFaceDetected:
        assert boxes == []
        return
    assert boxes, "a swap happened although detect() found no face"
    out = decode(result)
    assert out.shape == img.shape
    mask = face_mask(engine, img)
    assert psnr(img[~mask], out[~mask]) > OUTSIDE_PSNR_DB
    # and used as the face image it does not crash either
    try:
        engine.swap(photo("grace_hopper.jpg"), source)
    except NoFaceDetected as err:
        assert err.field == "face_image"


def test_large_image(engine, photo):
    # 6000 x 4000 with the astronaut scaled up to 4000 x 4000 in the middle
    face = cv2.resize(decode(photo("astronaut.png"))[..., :3], (4000, 4000), interpolation=cv2.INTER_LINEAR)
    big = np.full((4000, 6000, 3), (90, 120, 150), np.uint8)
    big[:, 1000:5000] = face
    source = encode(big, ".jpg")
    boxes = engine.detect(source)
    assert len(boxes) == 1
    x1, y1, x2, y2 = boxes[0]
    assert 1000 < x1 < x2 < 5000
    result = engine.swap(source, photo("grace_hopper.jpg"))
    out = decode(result)
    assert out.shape == big.shape
    # the far corners are untouched (JPEG re-encoding aside)
    assert psnr(big[:, :900], out[:, :900]) > OUTSIDE_PSNR_DB
    assert np.abs(big[y1:y2, x1:x2].astype(np.int16) - out[y1:y2, x1:x2]).mean() > INSIDE_MEAN_ABS_DIFF
    # a huge face image into a small source works too
    assert decode(engine.swap(photo("astronaut.png"), source)).shape == (512, 512, 3)


def test_greyscale_and_16_bit_png(engine, photo):
    img = decode(photo("astronaut.png"))[..., :3]
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    assert len(engine.detect(encode(grey))) == 1
    deep = img.astype(np.uint16) * 257
    assert len(engine.detect(encode(deep))) == 1


def test_every_failure_is_a_swapgate_error(engine, photo):
    # whatever odd input comes in, nothing but SwapgateError leaves the engine
    rng = np.random.default_rng(7)
    inputs = [
        encode(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)),
        encode(np.zeros((3000, 1, 3), np.uint8)),
        encode(np.zeros((1, 3000, 3), np.uint8), ".jpg"),
        photo("astronaut.png")[:-5000],
    ]
    for data in inputs:
        with contextlib.suppress(SwapgateError):
            engine.swap(data, photo("grace_hopper.jpg"))


# --- packaging ----------------------------------------------------------------------------------


def test_importing_the_engine_package_is_cheap():
    code = (
        "import sys, swapgate.engine, swapgate.engine.imageinfo\n"
        "heavy = [m for m in ('cv2', 'numpy', 'mediapipe') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
