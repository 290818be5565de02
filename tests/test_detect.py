"""Face detection: YuNet's file resolved and checked, its five points fitted to the template, Haar as
the fallback, and every face found in the real photos."""

import math

import numpy as np
import pytest

from faceparse.geometry import FIVE_POINT_TEMPLATE, AlignParams, align_from_points, five_points_from_ibug68, similarity
from faceparse.errors import FaceparseConfigError, FaceparseDataError


def test_similarity_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, size=(5, 2))
    angle, scale, shift = math.radians(23.0), 1.7, np.array([12.0, -40.0])
    r = scale * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    m = similarity(src, src @ r.T + shift)
    assert np.allclose(m[:, :2], r) and np.allclose(m[:, 2], shift)
    flat = similarity(src, src * 2.0 + 5.0, rotate=False)
    assert np.allclose(flat, [[2, 0, 5], [0, 2, 5]])


def test_template_points_of_a_frontal_face_land_on_the_template():
    p = AlignParams(size=256, scale=1.8, shift=0.05)
    box_side, centre = 300.0, np.array([400.0, 500.0])
    points = centre + FIVE_POINT_TEMPLATE * box_side          # an upright frontal face, as in a Haar box
    a = align_from_points(points, p, "yunet", box=(250, 350, 300, 300), score=0.9)
    crop = points @ a.matrix[:, :2].T + a.matrix[:, 2]
    expected = 128 + (FIVE_POINT_TEMPLATE + (0, 0.05)) * 256 / 1.8
    assert np.allclose(crop, expected) and abs(a.angle) < 1e-9
    assert a.score == pytest.approx(0.9) and a.points[2] == (400.0, points[2, 1])


def test_a_turned_head_moves_the_crop_towards_the_skull():
    p = AlignParams(size=256)
    frontal = np.array([200.0, 200.0]) + FIVE_POINT_TEMPLATE * 200
    turned = frontal.copy()
    turned[:, 0] = 200 + (turned[:, 0] - 200) * 0.5             # points squeezed as the head turns...
    turned[2, 0] += 40                                          # ...the nose towards image-right
    straight = align_from_points(frontal, p, "yunet", box=(100, 100, 200, 200))
    right = align_from_points(turned, p, "yunet", box=(100, 100, 200, 200))
    # the photo's face centre lands further right in the crop, leaving room for the skull on the left
    assert (right.matrix @ [200, 200, 1])[0] > (straight.matrix @ [200, 200, 1])[0] + 10


def test_five_points_of_ibug68():
    pts = np.arange(136, dtype=np.float64).reshape(68, 2)
    five = five_points_from_ibug68(pts)
    assert np.allclose(five[0], pts[36:42].mean(0)) and np.allclose(five[2], pts[30]) and np.allclose(five[4], pts[54])


def test_unknown_detector_is_refused():
    from faceparse.detect import FaceFinder

    with pytest.raises(FaceparseConfigError, match="align.detector: 'mtcnn'"):
        FaceFinder(AlignParams(detector="mtcnn"))


def test_missing_detector_file_names_both_places(tmp_path, monkeypatch):
    from faceparse import detect

    monkeypatch.setenv("FACEPARSE_MIRROR", str(tmp_path / "mirror"))
    (tmp_path / "mirror").mkdir()
    monkeypatch.delenv("FACEPARSE_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(FaceparseDataError) as err:
        detect.resolve_detector_file(download=False)
    text = str(err.value)
    assert str(tmp_path / "mirror" / "face_detection_yunet" / detect.YUNET.filename) in text
    assert str(tmp_path / "cache" / "faceparse" / detect.YUNET.filename) in text and detect.YUNET.url in text


def test_altered_detector_file_is_refused(tmp_path, monkeypatch):
    from faceparse import detect

    folder = tmp_path / "face_detection_yunet"
    folder.mkdir()
    (folder / detect.YUNET.filename).write_bytes(b"not an onnx network")
    monkeypatch.setenv("FACEPARSE_MIRROR", str(tmp_path))
    with pytest.raises(FaceparseDataError, match="does not match the known 8f2383e4"):
        detect.resolve_detector_file(download=False)


def test_failed_download_is_one_error_and_leaves_no_file(tmp_path, monkeypatch):
    from faceparse import detect, fetch

    def offline(url, part, **kw):
        raise fetch.NetworkError("Name or service not known")

    monkeypatch.delenv("FACEPARSE_MIRROR", raising=False)
    monkeypatch.delenv("FACEPARSE_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(fetch, "download_file", offline)
    with pytest.raises(FaceparseDataError, match="could not be downloaded .*Name or service not known"):
        detect.resolve_detector_file()
    assert not (tmp_path / "faceparse" / detect.YUNET.filename).exists()


def test_yunet_finds_every_fasseg_v2_test_face_with_five_points_inside_it(mirror):
    from faceparse.datasets import get_reader, read_image
    from faceparse.detect import YuNetFaceFinder, resolve_detector_file

    assert resolve_detector_file(download=False).parent == mirror / "face_detection_yunet"
    reader = get_reader("fasseg", versions=("V2",))
    samples = [s for s in reader.samples(mirror / "fasseg") if s.split == "test"][:8]
    finder = YuNetFaceFinder(AlignParams())
    for s in samples:
        faces = finder.find(read_image(s.image))
        assert faces, s.image
        face = faces[0]
        x, y, w, h = face.box
        pts = np.array(face.points)
        assert face.method == "yunet" and 0.5 <= face.score <= 1
        assert ((pts >= (x, y)) & (pts <= (x + w, y + h))).all(), s.image   # the points lie in the box
        assert pts[0, 0] < pts[2, 0] < pts[1, 0] and pts[2, 1] < pts[3:, 1].min()  # eyes either side, nose above mouth
        assert abs(face.angle) < 15


def test_yunet_points_match_facesynthetics_landmarks(mirror):
    from faceparse.datasets import get_reader, read_image
    from faceparse.detect import YuNetFaceFinder

    reader = get_reader("facesynthetics")
    finder = YuNetFaceFinder(AlignParams())
    errors = []
    for s in reader.samples(mirror / "facesynthetics_100")[:20]:
        truth = five_points_from_ibug68(reader.read_landmarks(s))
        faces = finder.find(read_image(s.image))
        assert faces, s.image
        iod = np.linalg.norm(truth[0] - truth[1])
        errors.append(np.linalg.norm(np.array(faces[0].points) - truth, axis=1).mean() / iod)
    assert np.median(errors) < 0.15  # YuNet's points and the rendered landmarks agree to a fraction of the eye gap


def test_yunet_faces_decodes_a_cell_as_opencv_does():
    """One cell of stride 16 over the threshold, one under, one of stride 8 overlapping the first:
    the box, points and score worked by hand, the lower-scoring overlap suppressed."""
    from faceparse.detect import yunet_faces

    width, height = 64, 32
    outputs = {}
    for s in (8, 16, 32):
        n = (width // s) * (height // s)
        outputs.update({f"cls_{s}": np.zeros((1, n, 1), np.float32), f"obj_{s}": np.zeros((1, n, 1), np.float32),
                        f"bbox_{s}": np.zeros((1, n, 4), np.float32), f"kps_{s}": np.zeros((1, n, 10), np.float32)})
    # stride 16: 4 columns, cell 5 is row 1, column 1; score sqrt(0.81 x 1.0) = 0.9
    outputs["cls_16"][0, 5], outputs["obj_16"][0, 5] = 0.81, 1.5           # obj clipped to 1
    outputs["bbox_16"][0, 5] = [0.5, 0.25, math.log(2.0), math.log(1.5)]   # centre (24, 20), 32 x 24
    outputs["kps_16"][0, 5] = np.arange(10) / 10
    outputs["cls_16"][0, 6], outputs["obj_16"][0, 6] = 0.25, 1.0           # score 0.5: under 0.6
    # stride 8: 8 columns, cell 11 is row 1, column 3: centre (28, 12), 32 x 24, score sqrt(0.49) = 0.7
    outputs["cls_8"][0, 11], outputs["obj_8"][0, 11] = 0.49, 1.0
    outputs["bbox_8"][0, 11] = [0.5, 0.5, math.log(4.0), math.log(3.0)]
    outputs["kps_8"][0, 11] = [0.5, -0.5] * 5                             # each point at (3.5, 0.5) x 8
    faces = yunet_faces(outputs, width, height, 0.6)
    assert faces.shape == (1, 15) and faces.dtype == np.float32
    points = [(1 + k / 10) * 16 for k in range(10)]  # (offset + column or row 1) x 16
    assert np.allclose(faces[0], [8, 8, 32, 24, *points, 0.9], atol=1e-5)
    # the stride-8 box, (12, 0) 32 x 24, overlaps it by 448 / 1088 = 0.41 of their union
    kept = yunet_faces(outputs, width, height, 0.6, nms=0.5)
    assert np.allclose(sorted(kept[:, 14]), [0.7, 0.9])
    assert np.allclose(kept[kept[:, 14] < 0.8, :14], [12, 0, 32, 24, *[28, 4] * 5])  # column 3, row 1
    # A score equal to the threshold (cell 6: sqrt(0.25 x 1) = 0.5) is decoded, but OpenCV's
    # suppression keeps only scores above it: with others it goes, alone it stays, as in OpenCV.
    assert np.allclose(sorted(yunet_faces(outputs, width, height, 0.5, nms=0.5)[:, 14]), [0.7, 0.9])
    alone = {k: v * 0 if k in ("cls_8", "cls_16") else v for k, v in outputs.items()}
    alone["cls_16"][0, 6] = 0.25
    assert np.allclose(yunet_faces(alone, width, height, 0.5)[:, [0, 1, 2, 3, 14]], [[24, 8, 16, 16, 0.5]])


def test_yunet_in_openvino_finds_opencvs_faces(mirror):
    """The same YuNet file run by OpenVINO (`--precision bf16`'s detector) finds the faces OpenCV
    finds, their boxes and points within 0.001 pixels, on London, FaceSynthetics and FASSEG photos."""
    pytest.importorskip("openvino", reason="OpenVINO is not installed")
    from faceparse.datasets import read_image
    from faceparse.datasets.base import list_images
    from faceparse.detect import YuNetFaceFinder

    photos = (list_images(mirror / "london_faces", recursive=True)[:4]
              + sorted(p for p in (mirror / "facesynthetics_100").glob("*.png") if not p.stem.endswith("_seg"))[:4]
              + list_images(mirror / "fasseg" / "V3", recursive=True)[:4])
    opencv = YuNetFaceFinder(AlignParams())
    openvino = YuNetFaceFinder(AlignParams(), runtime="openvino")
    for photo in photos:
        image = read_image(photo)
        a, b = opencv.detect(image), openvino.detect(image)
        assert len(a) >= 1 and a.shape == b.shape, photo
        assert np.abs(a - b).max() < 1e-3, photo
    with pytest.raises(FaceparseConfigError, match="YuNet runtime 'tflite'"):
        YuNetFaceFinder(AlignParams(), runtime="tflite")


def test_yunet_in_openvino_is_kept_compiled_and_runs_where_nothing_can_be_kept(mirror, tmp_path, monkeypatch):
    """OpenVINO's compiled YuNet is kept in the user cache and loaded from there by the next run, which
    finds the same faces; where the cache cannot be written, YuNet is compiled each time and finds
    them too."""
    pytest.importorskip("openvino", reason="OpenVINO is not installed")
    from faceparse.datasets import read_image
    from faceparse.datasets.base import list_images
    from faceparse.detect import YuNetFaceFinder

    image = read_image(list_images(mirror / "london_faces", recursive=True)[0])
    monkeypatch.setenv("FACEPARSE_CACHE_DIR", str(tmp_path / "cache"))
    first = YuNetFaceFinder(AlignParams(), runtime="openvino").detect(image)
    kept = list((tmp_path / "cache" / "onnx" / "openvino").glob("*.blob"))
    assert len(first) == 1 and len(kept) == 1
    again = YuNetFaceFinder(AlignParams(), runtime="openvino").detect(image)
    assert np.array_equal(first, again)
    assert list((tmp_path / "cache" / "onnx" / "openvino").glob("*.blob")) == kept  # loaded, not compiled anew
    (tmp_path / "a_file").write_text("")
    monkeypatch.setenv("FACEPARSE_CACHE_DIR", str(tmp_path / "a_file" / "cache"))  # no folder can be made there
    assert np.array_equal(YuNetFaceFinder(AlignParams(), runtime="openvino").detect(image), first)


def test_haar_is_the_fallback_when_yunet_finds_nothing(mirror, monkeypatch):
    from faceparse.datasets import get_reader, read_image
    from faceparse.detect import FaceFinder, YuNetFaceFinder

    reader = get_reader("fasseg", versions=("V2",))
    sample = [s for s in reader.samples(mirror / "fasseg") if s.split == "test"][0]
    image = read_image(sample.image)
    finder = FaceFinder(AlignParams())
    assert finder.find(image)[0].method == "yunet"
    monkeypatch.setattr(YuNetFaceFinder, "find", lambda self, image: [])
    assert finder.find(image)[0].method.startswith("haar")
    assert FaceFinder(AlignParams(detector="haar")).find(image)[0].method.startswith("haar")


def test_photos_smaller_than_yunets_stride_give_no_garbage_faces(mirror):
    import cv2

    from faceparse.datasets import read_image
    from faceparse.detect import YuNetFaceFinder

    finder = YuNetFaceFinder(AlignParams())
    big = read_image(next((mirror / "fasseg").rglob("*.png")))
    threads = cv2.getNumThreads()
    try:
        for n in (1, 2):
            cv2.setNumThreads(n)
            finder.detect(big)
            for shape in ((24, 32, 3), (17, 9, 3), (40, 70, 3)):
                tiny = np.full(shape, 128, np.uint8)
                assert len(finder.detect(tiny)) == 0  # flat grey: no face, and no inf box scored 1.0 (seen unpadded)
    finally:
        cv2.setNumThreads(threads)
