"""Image <-> NumPy: every supported encoding, row padding, endianness, views, and rejected bad messages."""
import numpy as np
import pytest
from sensor_msgs.msg import Image

from vla_ros.image_conversion import ENCODINGS, image_to_numpy, numpy_to_image, to_depth_m, to_rgb8
from vla_ros.rejections import RejectedInput

RNG = np.random.default_rng(0)


def _random(encoding: str, h: int = 5, w: int = 7) -> np.ndarray:
    dtype, ch = ENCODINGS[encoding]
    shape = (h, w) if ch == 1 else (h, w, ch)
    if dtype == np.float32:
        return RNG.uniform(0.1, 5.0, shape).astype(np.float32)
    return RNG.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_round_trip(encoding):
    arr = _random(encoding)
    msg = numpy_to_image(arr, encoding, frame_id="cam")
    assert msg.step == arr.shape[1] * arr.itemsize * (arr.shape[2] if arr.ndim == 3 else 1)
    back = image_to_numpy(msg)
    np.testing.assert_array_equal(back, arr)
    assert back.dtype == arr.dtype and not back.flags.writeable


def _padded(arr: np.ndarray, encoding: str, pad: int, big: bool) -> Image:
    """Build the message by hand, as a driver with row padding and a given byte order would."""
    dtype = arr.dtype.newbyteorder(">" if big else "<")
    rows = arr.astype(dtype).reshape(arr.shape[0], -1).view(np.uint8)
    rows = np.concatenate([rows, np.full((arr.shape[0], pad), 0xAB, np.uint8)], axis=1)
    msg = Image(height=arr.shape[0], width=arr.shape[1], encoding=encoding, is_bigendian=int(big), step=rows.shape[1])
    msg.data = rows.tobytes()
    return msg


@pytest.mark.parametrize("encoding", ["rgb8", "mono8", "16UC1", "32FC1", "rgba8"])
@pytest.mark.parametrize("big", [False, True])
def test_row_padding_and_endianness(encoding, big):
    arr = _random(encoding)
    back = image_to_numpy(_padded(arr, encoding, pad=5, big=big))
    np.testing.assert_array_equal(back, arr)


def test_native_order_is_a_view_not_a_copy():
    arr = _random("rgb8", 480, 640)
    msg = numpy_to_image(arr, "rgb8")
    back = image_to_numpy(msg)
    assert np.shares_memory(back, np.frombuffer(msg.data, np.uint8))


@pytest.mark.parametrize(
    "mutate, reason",
    [
        (lambda m: setattr(m, "encoding", "yuv422"), "unsupported encoding"),
        (lambda m: setattr(m, "step", 3), "step too small"),
        (lambda m: setattr(m, "height", m.height + 1), "data length mismatch"),
        (lambda m: setattr(m, "data", bytes(10)), "data length mismatch"),
        (lambda m: (setattr(m, "height", 0), setattr(m, "data", b"")), "empty image"),
    ],
)
def test_bad_messages_are_rejected_with_reason(mutate, reason):
    msg = numpy_to_image(_random("rgb8"), "rgb8")
    mutate(msg)
    with pytest.raises(RejectedInput) as info:
        image_to_numpy(msg)
    assert info.value.reason == reason


def test_colour_conversions_to_rgb():
    rgb = _random("rgb8")
    opaque = np.full(rgb.shape[:2], 255, np.uint8)
    for enc, arr in [("rgb8", rgb), ("bgr8", rgb[:, :, ::-1]), ("rgba8", np.dstack([rgb, opaque])),
                     ("bgra8", np.dstack([rgb[:, :, ::-1], np.zeros(rgb.shape[:2], np.uint8)]))]:
        np.testing.assert_array_equal(to_rgb8(numpy_to_image(np.ascontiguousarray(arr), enc)), rgb)
    mono = _random("mono8")
    assert to_rgb8(numpy_to_image(mono, "mono8")).shape == mono.shape + (3,)
    with pytest.raises(RejectedInput):
        to_rgb8(numpy_to_image(_random("16UC1"), "16UC1"))


def test_depth_units_and_invalid_readings():
    mm = np.array([[0, 1000], [1500, 65535]], np.uint16)
    np.testing.assert_allclose(to_depth_m(numpy_to_image(mm, "16UC1")), [[np.nan, 1.0], [1.5, 65.535]], rtol=1e-6)
    m = np.array([[np.nan, 0.5], [-1.0, np.inf]], np.float32)
    out = to_depth_m(numpy_to_image(m, "32FC1"))
    assert out[0, 1] == 0.5 and np.isnan(out).sum() == 3


def test_numpy_to_image_rejects_mismatched_arrays():
    with pytest.raises(ValueError):
        numpy_to_image(np.zeros((4, 4), np.uint8), "rgb8")
    with pytest.raises(ValueError):
        numpy_to_image(np.zeros((4, 4, 3), np.float32), "rgb8")


def test_agrees_with_real_cv_bridge_where_installed():
    """Robots have cv_bridge; there, both conversions must give the same arrays for common encodings."""
    cv_bridge = pytest.importorskip("cv_bridge", reason="cv_bridge is not installed on this machine (robots have it)")
    bridge = cv_bridge.CvBridge()
    for enc in ("rgb8", "bgr8", "mono8", "16UC1", "32FC1", "rgba8"):
        msg = _padded(_random(enc), enc, pad=3, big=False)
        np.testing.assert_array_equal(image_to_numpy(msg), bridge.imgmsg_to_cv2(msg, desired_encoding="passthrough"))
