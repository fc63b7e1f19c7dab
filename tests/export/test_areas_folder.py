from pathlib import Path

import cv2
import numpy as np
import pytest

from device.core.errors import BadInput
from export.areas_folder import AreaSample, is_areas_folder, read_areas_folder
from tests.conftest import SHARED_DATA

H, W = 12, 16


def image(shape: tuple[int, int] = (H, W)) -> np.ndarray:
    rng = np.random.default_rng(sum(shape))
    return rng.integers(0, 256, (*shape, 3), dtype=np.uint8)


def write(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), arr)
    return path


def binary_mask(shape: tuple[int, int] = (H, W)) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    m[: shape[0] // 2] = 255  # top half is the class
    return m


def scribbles() -> np.ndarray:
    m = np.zeros((H, W), np.uint8)  # 0: not painted
    m[0, :4] = 10  # background
    m[1, :3] = 20  # gland
    m[2, :2] = 30  # lumen
    return m


def binary_folder(root: Path, names: tuple[str, ...] = ("a", "b")) -> Path:
    for name in names:
        write(root / "images" / f"{name}.png", image())
        write(root / "masks" / f"{name}.png", binary_mask())
    return root


def classes_folder(root: Path, csv_text: str = "value,class\n10,background\n20,gland\n30,lumen\n"):
    write(root / "images" / "a.png", image())
    write(root / "masks" / "a.png", scribbles())
    (root / "classes.csv").write_text(csv_text)
    return root


def bad_input(root: Path) -> str:
    with pytest.raises(BadInput) as e:
        read_areas_folder(root)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_binary_masks_default_to_region(tmp_path):
    f = read_areas_folder(binary_folder(tmp_path))
    assert f.classes == ["region"]
    assert [s.name for s in f.samples] == ["a.png", "b.png"]
    s = f.samples[0]
    assert (s.width, s.height) == (W, H)
    labels = s.labels()
    assert labels.dtype == np.int64 and labels.shape == (H, W)
    assert (labels[: H // 2] == 1).all() and (labels[H // 2 :] == 0).all()
    assert s.image().shape == (H, W, 3) and s.image().dtype == np.uint8


def test_binary_class_named_by_areas_csv(tmp_path):
    root = binary_folder(tmp_path)
    (root / "areas.csv").write_text("image,class,fraction\na.png,gland,0.5\nb.png,gland,0.5\n")
    assert read_areas_folder(root).classes == ["gland"]


def test_areas_csv_with_two_classes_falls_back_to_region(tmp_path):
    root = binary_folder(tmp_path)
    (root / "areas.csv").write_text("image,class,fraction\na.png,gland,0.5\nb.png,crypt,0.5\n")
    assert read_areas_folder(root).classes == ["region"]


def test_classes_csv_scribbles(tmp_path):
    f = read_areas_folder(classes_folder(tmp_path))
    assert f.classes == ["gland", "lumen"]
    labels = f.samples[0].labels()
    assert labels[0, :4].tolist() == [0, 0, 0, 0]
    assert labels[1, :3].tolist() == [1, 1, 1]
    assert labels[2, :2].tolist() == [2, 2]
    assert (labels == -1).sum() == H * W - 9  # everything unpainted is ignored


def test_classes_ordered_by_value_and_background_any_case(tmp_path):
    root = classes_folder(tmp_path, "value,class\n30,lumen\n20,gland\n10,Background\n")
    f = read_areas_folder(root)
    assert f.classes == ["gland", "lumen"]
    assert sorted(np.unique(f.samples[0].labels()).tolist()) == [-1, 0, 1, 2]


def test_rgb_and_16_bit_grey_masks(tmp_path):
    root = binary_folder(tmp_path)
    write(root / "masks" / "a.png", cv2.cvtColor(binary_mask(), cv2.COLOR_GRAY2BGR))
    write(root / "masks" / "b.png", cv2.cvtColor(binary_mask(), cv2.COLOR_GRAY2BGRA))
    f = read_areas_folder(root)
    assert [int((s.labels() == 1).sum()) for s in f.samples] == [H * W // 2] * 2
    m16 = scribbles().astype(np.uint16) * 1000  # values 10000, 20000, 30000
    root2 = classes_folder(tmp_path / "deep", "value,class\n10000,background\n20000,gland\n")
    write(root2 / "masks" / "a.png", m16 * (m16 != 30000))
    assert cv2.imread(str(root2 / "masks" / "a.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    labels = read_areas_folder(root2).samples[0].labels()
    assert labels[1, :3].tolist() == [1, 1, 1] and labels[2, 0] == -1


def test_images_of_different_sizes_and_left_out(tmp_path):
    root = binary_folder(tmp_path)
    write(root / "images" / "c.jpg", image((20, 30)))
    write(root / "masks" / "c.png", binary_mask((20, 30)))
    write(root / "images" / "d.png", image())
    (root / "masks" / "notes.txt").write_text("not a mask")
    f = read_areas_folder(root)
    assert [(s.name, s.width, s.height) for s in f.samples] == [
        ("a.png", W, H),
        ("b.png", W, H),
        ("c.jpg", 30, 20),
    ]
    assert f.left_out == ["d.png"]


def test_is_areas_folder(tmp_path):
    assert not is_areas_folder(tmp_path)
    (tmp_path / "masks").mkdir()
    assert is_areas_folder(tmp_path)


def test_content_hash_and_subset(tmp_path):
    root = binary_folder(tmp_path)
    f = read_areas_folder(root)
    h = f.content_hash()
    assert h == read_areas_folder(root).content_hash()
    sub = f.subset(["b.png"])
    assert [s.name for s in sub.samples] == ["b.png"] and sub.classes == f.classes
    assert sub.content_hash() != h
    m = binary_mask()
    m[-1, -1] = 255  # one pixel more of the class
    write(root / "masks" / "b.png", m)
    assert read_areas_folder(root).content_hash() != h
    (root / "areas.csv").write_text("image,class,fraction\na.png,gland,0.5\n")
    renamed = read_areas_folder(root)
    write(root / "masks" / "b.png", binary_mask())
    assert renamed.content_hash() != h  # the same pixels under another class name


def test_labels_checks_the_mask_again(tmp_path):
    s = read_areas_folder(binary_folder(tmp_path)).samples[0]
    m = binary_mask()
    m[0, 0] = 7
    write(s.mask_path, m)
    with pytest.raises(BadInput, match=r"a\.png: value 7"):
        s.labels()
    assert AreaSample("b.png", s.path, s.mask_path.with_name("b.png"), W, H).labels().max() == 1


@pytest.mark.parametrize(
    "csv_text, expected",
    [
        ("val,name\n10,gland\n", "classes.csv: header"),
        ("value,class\n", "classes.csv: no class besides background"),
        ("value,class\n10,background\n", "no class besides background"),
        ("value,class\n0,gland\n", "row 2: value '0' is not a whole number 1-65535"),
        ("value,class\n65536,gland\n", "row 2: value '65536'"),
        ("value,class\nten,gland\n", "row 2: value 'ten'"),
        ("value,class\n²,gland\n", "row 2: value '²'"),
        ("value,class\n10,gland\n10,lumen\n", "row 3: value 10 is listed twice"),
        ("value,class\n10,gland\n20,Gland\n", "row 3: class 'Gland' is listed twice"),
        ("value,class\n10,a/b\n", "row 2: class name 'a/b' contains a path separator"),
        ("value,class\n10,\n", "row 2: class name '' is empty"),
        ("value,class\n10,gland,x\n", "row 2: 3 fields"),
    ],
)
def test_bad_classes_csv(tmp_path, csv_text, expected):
    msg = bad_input(classes_folder(tmp_path, csv_text))
    assert str(tmp_path / "classes.csv") in msg
    assert expected in msg


def test_classes_csv_not_utf8(tmp_path):
    root = classes_folder(tmp_path)
    (root / "classes.csv").write_bytes(b"value,class\n10,gl\xe4nd\n")
    assert "classes.csv: not UTF-8" in bad_input(root)


def test_mask_value_not_in_classes_csv(tmp_path):
    root = classes_folder(tmp_path, "value,class\n10,background\n20,gland\n")
    msg = bad_input(root)
    assert f"{root / 'masks' / 'a.png'}: value 30 is not in classes.csv" in msg


def test_binary_mask_with_other_values_needs_classes_csv(tmp_path):
    root = binary_folder(tmp_path)
    m = binary_mask()
    m[0, 0] = 128
    write(root / "masks" / "b.png", m)
    msg = bad_input(root)
    assert str(root / "masks" / "b.png") in msg
    assert "value 128" in msg and "classes.csv" in msg


def test_colour_mask(tmp_path):
    root = binary_folder(tmp_path)
    colour = cv2.cvtColor(binary_mask(), cv2.COLOR_GRAY2BGR)
    colour[0, 0] = (0, 0, 255)
    write(root / "masks" / "a.png", colour)
    assert f"{root / 'masks' / 'a.png'}: colour mask" in bad_input(root)


def test_mask_without_image(tmp_path):
    root = binary_folder(tmp_path)
    write(root / "masks" / "zz.png", binary_mask())
    assert f"{root / 'masks' / 'zz.png'}: mask without an image" in bad_input(root)


def test_mask_size_differs(tmp_path):
    root = binary_folder(tmp_path)
    write(root / "masks" / "b.png", binary_mask((H, W + 1)))
    msg = bad_input(root)
    assert f"{root / 'masks' / 'b.png'}: mask is {W + 1}x{H}, its image b.png is {W}x{H}" in msg


def test_unreadable_and_misplaced_masks(tmp_path):
    root = binary_folder(tmp_path)
    (root / "masks" / "a.png").write_bytes(b"not a png")
    assert f"{root / 'masks' / 'a.png'}: not a readable mask" in bad_input(root)
    (root / "masks" / "a.png").unlink()
    (root / "masks" / "a.png").mkdir()
    assert f"{root / 'masks' / 'a.png'}: not a regular file" in bad_input(root)
    (root / "masks" / "a.png").rmdir()
    write(root / "masks" / "a.jpg", binary_mask())
    assert f"{root / 'masks' / 'a.jpg'}: a mask is a png" in bad_input(root)


def test_two_images_for_one_mask(tmp_path):
    root = binary_folder(tmp_path)
    write(root / "images" / "a.jpg", image())
    msg = bad_input(root)
    assert str(root / "images") in msg and "masks/a.png would belong to both" in msg


def test_image_name_with_separator(tmp_path):
    root = binary_folder(tmp_path)
    write(root / "images" / "..\\x.png", image())
    assert "file name cannot name a mask" in bad_input(root)


def test_hostile_names_are_escaped(tmp_path):
    root = binary_folder(tmp_path)
    write(root / "masks" / "evil\x1b[2J.png", binary_mask())
    msg = bad_input(root)
    assert "\x1b" not in msg and "evil\\x1b[2J.png: mask without an image" in msg


def test_missing_parts(tmp_path):
    assert "not a folder" in bad_input(tmp_path / "nope")
    (tmp_path / "masks").mkdir()
    assert f"{tmp_path}: no images/ folder" in bad_input(tmp_path)
    write(tmp_path / "images" / "a.png", image())
    assert f"{tmp_path / 'masks'}: no image has a mask yet" in bad_input(tmp_path)


def test_glas_glands():
    root = SHARED_DATA / "glas-glands"
    if not (root / "masks").is_dir():
        pytest.skip(f"shared data folder {root} is absent")
    f = read_areas_folder(root)
    assert len(f.samples) == 85 and f.classes == ["gland"] and f.left_out == []
    seen: set[int] = set()
    for s in f.samples:
        labels = s.labels()
        assert labels.shape == (s.height, s.width)
        seen |= set(np.unique(labels).tolist())
    assert seen == {0, 1}  # fully labelled: nothing ignored
