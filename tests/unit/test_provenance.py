"""Provenance marks: the IPTC Digital Source Type in XMP for JPEG, PNG and WebP without re-encoding, and
a C2PA manifest verified with the C2PA library's own reader (when ``c2pa-python`` is installed).

Files are checked with parsers written here (not the module's own) and with OpenCV's and Pillow's
decoders: the pixels decode equal and every pixel-carrying segment or chunk is byte-identical.
"""

from __future__ import annotations

import contextlib
import io
import json
import struct
import time
import zlib
from pathlib import Path

import pytest
from support.c2pa_certs import certificate_chain as _certificate_chain
from swapgate.errors import InvalidImage
from swapgate.provenance import COMPOSITE_TRAINED, SigningCredentials, mark, read_marks, sign_c2pa

# OpenCV makes the test images (the `local` extra; make test-py313 installs only `dev`)
cv2 = pytest.importorskip("cv2")
np = pytest.importorskip("numpy")

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"
CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
XMP_ID = b"http://ns.adobe.com/xap/1.0/\x00"


def _encode(image: np.ndarray, ext: str, *params: int) -> bytes:
    ok, buf = cv2.imencode(ext, image, list(params))
    assert ok
    return buf.tobytes()


def _face(name: str = "grace_hopper.jpg") -> np.ndarray:
    return cv2.imread(str(FACES / name), cv2.IMREAD_UNCHANGED)


def _images() -> dict[str, bytes]:
    face = _face()
    with_alpha = cv2.cvtColor(face, cv2.COLOR_BGR2BGRA)
    with_alpha[:40, :40, 3] = 0
    return {
        "jpeg": (FACES / "grace_hopper.jpg").read_bytes(),
        "png": _encode(face, ".png"),
        "png-alpha": _encode(with_alpha, ".png"),
        "webp-lossy": _encode(face, ".webp", cv2.IMWRITE_WEBP_QUALITY, 80),
        "webp-lossless": _encode(face, ".webp", cv2.IMWRITE_WEBP_QUALITY, 101),
        "webp-lossless-alpha": _encode(with_alpha, ".webp", cv2.IMWRITE_WEBP_QUALITY, 101),
    }


IMAGES = _images()


def _pixels(data: bytes) -> np.ndarray:
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded is not None
    return decoded


# --- independent parsers ---------------------------------------------------------------------------


def jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, whole segment) up to SOS, then (0xDA, everything from SOS to the end)."""
    out, pos = [], 2
    while data[pos + 1] != 0xDA:
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        out.append((data[pos + 1], data[pos : pos + 2 + length]))
        pos += 2 + length
    return [*out, (0xDA, data[pos:])]


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    out, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body), f"bad CRC on {kind!r}"
        out.append((kind, body))
        pos += 12 + length
    return out


def webp_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8
    out, pos = [], 12
    while pos < len(data):
        kind, size = struct.unpack("<4sI", data[pos : pos + 8])
        out.append((kind, data[pos + 8 : pos + 8 + size]))
        pos += 8 + size + (size & 1)
    assert pos == len(data)
    return out


def xmp_packets(data: bytes) -> list[bytes]:
    if data[:2] == b"\xff\xd8":
        return [
            s[4 + len(XMP_ID) :] for m, s in jpeg_segments(data) if m == 0xE1 and s[4:].startswith(XMP_ID)
        ]
    if data[:4] == b"RIFF":
        return [body for kind, body in webp_chunks(data) if kind == b"XMP "]
    return [b for k, b in png_chunks(data) if k == b"iTXt" and b.startswith(b"XML:com.adobe.xmp\0")]


def pixel_parts(data: bytes) -> list[bytes]:
    """The segments or chunks that carry the image itself."""
    if data[:2] == b"\xff\xd8":
        return [s for m, s in jpeg_segments(data) if m not in range(0xE0, 0xF0)]
    if data[:4] == b"RIFF":
        return [b for k, b in webp_chunks(data) if k in (b"VP8 ", b"VP8L", b"ALPH")]
    return [b for k, b in png_chunks(data) if k in (b"IHDR", b"PLTE", b"tRNS", b"IDAT")]


# --- the XMP mark ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", IMAGES)
def test_marking_adds_the_digital_source_type_and_leaves_the_pixels_alone(name):
    data = IMAGES[name]
    assert read_marks(data) == {"digital_source_type": None, "c2pa": False}

    marked = mark(data)

    assert read_marks(marked) == {"digital_source_type": COMPOSITE_TRAINED, "c2pa": False}
    assert pixel_parts(marked) == pixel_parts(data)
    np.testing.assert_array_equal(_pixels(marked), _pixels(data))
    [packet] = xmp_packets(marked)
    assert COMPOSITE_TRAINED.encode() in packet


def test_jpeg_gets_one_app1_segment_after_jfif_and_nothing_else_changes():
    data = IMAGES["jpeg"]
    before = jpeg_segments(data)
    after = jpeg_segments(mark(data))
    xmp_at = [i for i, (m, s) in enumerate(after) if m == 0xE1 and s[4:].startswith(XMP_ID)]
    assert len(xmp_at) == 1
    assert all(m == 0xE0 for m, _ in after[: xmp_at[0]])  # after SOI and APP0 (JFIF)
    assert after[: xmp_at[0]] + after[xmp_at[0] + 1 :] == before


def test_png_gets_one_itxt_chunk_before_idat_with_a_correct_crc():
    data = IMAGES["png"]
    before, after = png_chunks(data), png_chunks(mark(data))  # png_chunks checks every CRC
    kinds = [k for k, _ in after]
    assert kinds.index(b"iTXt") < kinds.index(b"IDAT")
    assert [c for c in after if c[0] != b"iTXt"] == before
    body = after[kinds.index(b"iTXt")][1]
    assert body.startswith(b"XML:com.adobe.xmp\0\0\0\0\0")  # uncompressed, no language, no translation


@pytest.mark.parametrize("name", ["webp-lossy", "webp-lossless", "webp-lossless-alpha"])
def test_simple_webp_becomes_extended_with_the_canvas_read_from_the_bitstream(name):
    data = IMAGES[name]
    height, width = _pixels(data).shape[:2]
    before = webp_chunks(data)
    after = webp_chunks(mark(data))

    assert [k for k, _ in after] == [b"VP8X", before[0][0], b"XMP "]
    vp8x = after[0][1]
    flags = vp8x[0]
    assert flags & 0x04  # XMP
    assert bool(flags & 0x10) == name.endswith("alpha")  # alpha, from the VP8L header's hint
    assert int.from_bytes(vp8x[4:7], "little") + 1 == width
    assert int.from_bytes(vp8x[7:10], "little") + 1 == height
    assert after[1] == before[0]


@pytest.mark.parametrize("name", IMAGES)
def test_marking_twice_leaves_one_packet_and_the_same_bytes(name):
    once = mark(IMAGES[name])
    twice = mark(once)
    assert twice == once
    assert len(xmp_packets(twice)) == 1


@pytest.mark.parametrize("name", ["jpeg", "png", "webp-lossy"])
def test_another_digital_source_type_is_replaced_not_added(name):
    captured = mark(IMAGES[name], digital_source_type=CAPTURE)
    assert read_marks(captured)["digital_source_type"] == CAPTURE
    remarked = mark(captured)
    [packet] = xmp_packets(remarked)
    assert read_marks(remarked)["digital_source_type"] == COMPOSITE_TRAINED
    assert packet.count(b"DigitalSourceType") == 1 and CAPTURE.encode() not in packet


FOREIGN_XMP = f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="SomeTool 1.0">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="SomeProvider">
   <Iptc4xmpExt:DigitalSourceType xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
     rdf:resource="{CAPTURE}"/>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
   <dc:format>image/jpeg</dc:format>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>""".encode()


def _with_jpeg_xmp(data: bytes, packet: bytes) -> bytes:
    payload = XMP_ID + packet
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _with_png_xmp(data: bytes, packet: bytes, *, compressed: bool) -> bytes:
    text = zlib.compress(packet) if compressed else packet
    chunk = _png_chunk(b"iTXt", b"XML:com.adobe.xmp\0" + bytes([compressed, 0]) + b"\0\0" + text)
    ihdr_end = 8 + 12 + 13
    return data[:ihdr_end] + chunk + data[ihdr_end:]


@pytest.mark.parametrize(
    "with_xmp",
    [
        lambda: _with_jpeg_xmp(IMAGES["jpeg"], FOREIGN_XMP),
        lambda: _with_png_xmp(IMAGES["png"], FOREIGN_XMP, compressed=False),
        lambda: _with_png_xmp(IMAGES["png"], FOREIGN_XMP, compressed=True),
    ],
    ids=["jpeg", "png", "png-compressed"],
)
def test_an_existing_packet_keeps_its_other_properties(with_xmp):
    data = with_xmp()
    assert read_marks(data)["digital_source_type"] == CAPTURE  # the element form is read too

    marked = mark(data)

    [packet] = xmp_packets(marked)
    assert read_marks(marked)["digital_source_type"] == COMPOSITE_TRAINED
    assert b'CreatorTool="SomeProvider"' in packet and b"<dc:format>image/jpeg</dc:format>" in packet
    assert CAPTURE.encode() not in packet
    assert pixel_parts(marked) == pixel_parts(data)


def test_an_existing_jpeg_packet_is_replaced_where_it_was():
    data = IMAGES["jpeg"]
    exif = b"\xff\xe1" + struct.pack(">H", 2 + 8) + b"Exif\0\0II"
    with_both = _with_jpeg_xmp(data[:2] + exif + data[2:], FOREIGN_XMP)  # XMP before Exif
    markers = [(m, s[4:8]) for m, s in jpeg_segments(mark(with_both))]
    assert markers[:2] == [(0xE1, b"http"), (0xE1, b"Exif")]


def test_a_packet_with_a_dtd_is_not_parsed_but_replaced():
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><x>&b;</x>'
    marked = mark(_with_jpeg_xmp(IMAGES["jpeg"], bomb))
    [packet] = xmp_packets(marked)
    assert b"DOCTYPE" not in packet and read_marks(marked)["digital_source_type"] == COMPOSITE_TRAINED


def test_a_packet_too_big_to_merge_into_one_jpeg_segment_is_replaced_by_the_mark_alone():
    filler = b"<!-- " + b"x" * (65450 - len(FOREIGN_XMP)) + b" -->"  # just fits one segment
    big = FOREIGN_XMP.replace(b"</x:xmpmeta>", filler + b"</x:xmpmeta>")
    marked = mark(_with_jpeg_xmp(IMAGES["jpeg"], big))
    [packet] = xmp_packets(marked)
    assert len(packet) < 1000 and read_marks(marked)["digital_source_type"] == COMPOSITE_TRAINED


def test_pillow_reads_the_packets_where_the_formats_put_them():
    image = pytest.importorskip("PIL.Image")
    for name, key in [("jpeg", "xmp"), ("png", "XML:com.adobe.xmp"), ("webp-lossless-alpha", "xmp")]:
        with image.open(io.BytesIO(mark(IMAGES[name]))) as im:
            im.load()  # Pillow checks PNG CRCs and the WebP container while loading
            packet = im.info[key]
        assert COMPOSITE_TRAINED in (packet.decode() if isinstance(packet, bytes) else packet)


# --- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"hello", b"GIF89a" + b"\0" * 40, b"RIFF\0\0\0\0WAVE"])
def test_what_is_not_an_image_is_refused(data):
    with pytest.raises(InvalidImage):
        mark(data)
    with pytest.raises(InvalidImage):
        read_marks(data)


@pytest.mark.parametrize("name", IMAGES)
def test_truncated_and_corrupted_files_raise_invalid_image_only(name):
    data = IMAGES[name]
    for cut in [3, 12, 16, 21, 30, 40, 100, len(data) // 2, len(data) - 3]:
        for call in (mark, read_marks):
            with pytest.raises(InvalidImage):
                call(data[:cut])
    rng = np.random.default_rng(7)
    for _ in range(300):  # flipped header bytes: whatever happens, only InvalidImage may escape
        broken = bytearray(data)
        broken[int(rng.integers(3, 64))] = int(rng.integers(0, 256))
        for call in (mark, read_marks):
            with contextlib.suppress(InvalidImage):
                call(bytes(broken))


def test_marking_a_1500_px_jpeg_is_fast():
    face = _face()
    big = _encode(cv2.resize(face, (1500, 1500 * face.shape[0] // face.shape[1])), ".jpg")
    mark(big)
    started = time.perf_counter()
    for _ in range(20):
        mark(big)
    assert (time.perf_counter() - started) / 20 < 0.05  # about 1 ms on a laptop core


# --- C2PA ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def c2pa():
    return pytest.importorskip("c2pa", reason="c2pa-python is not installed (it ships as a layer of its own)")


@pytest.mark.parametrize("name", ["jpeg", "png", "webp-lossy", "webp-lossless-alpha"])
def test_a_signed_manifest_states_the_edit_and_the_c2pa_reader_trusts_it(c2pa, name):
    chain, key, root = _certificate_chain()
    data = mark(IMAGES[name])

    signed = sign_c2pa(data, SigningCredentials.from_pem_bundle(key + chain))

    assert read_marks(signed) == {"digital_source_type": COMPOSITE_TRAINED, "c2pa": True}
    np.testing.assert_array_equal(_pixels(signed), _pixels(data))
    assert pixel_parts(signed) == pixel_parts(data)
    trust = c2pa.Settings.from_dict(
        {"trust": {"trust_anchors": root.decode()}, "verify": {"verify_trust": True}}
    )
    mime = {"j": "image/jpeg", "p": "image/png", "w": "image/webp"}[name[0]]
    with c2pa.Context(trust) as context, c2pa.Reader(mime, io.BytesIO(signed), context=context) as reader:
        store = json.loads(reader.json())
    assert store["validation_state"] == "Trusted", store.get("validation_results")
    manifest = store["manifests"][store["active_manifest"]]
    [actions] = [
        a["data"]["actions"] for a in manifest["assertions"] if a["label"].startswith("c2pa.actions")
    ]
    [edited] = [a for a in actions if a["action"] == "c2pa.edited"]
    assert edited["digitalSourceType"] == COMPOSITE_TRAINED
    assert "thumbnail" not in manifest


def test_a_tampered_signed_image_fails_the_c2pa_reader(c2pa):
    chain, key, _ = _certificate_chain()
    signed = bytearray(sign_c2pa(mark(IMAGES["png"]), SigningCredentials(chain, key)))
    idat = signed.index(b"IDAT")
    signed[idat + 100] ^= 0xFF
    with c2pa.Reader("image/png", io.BytesIO(bytes(signed))) as reader:
        store = json.loads(reader.json())
    assert store["validation_state"] == "Invalid"


def test_the_signing_secret_must_hold_a_chain_and_one_key():
    chain, key, _ = _certificate_chain()
    credentials = SigningCredentials.from_pem_bundle(chain.decode() + "\n" + key.decode(), alg="es256")
    assert (credentials.cert_chain_pem, credentials.private_key_pem) == (chain, key)
    with pytest.raises(ValueError):
        SigningCredentials.from_pem_bundle(chain)
    with pytest.raises(ValueError):
        SigningCredentials.from_pem_bundle(key + key + chain)
