"""The accuracy benchmark's splits: tiny folders leave-one-out at their main zoom, photographs at
another zoom in rows of their own, larger folders random hold-outs."""

from export.train_options import DEFAULT_BUDGET_GMAC
from tests.benchmarks.accuracy import (
    DEFAULT_ARCH,
    first_split,
    folder_jobs,
    is_default,
    plan,
    protocol,
    speed_table,
    table,
)


def test_tiny_folder_holds_out_every_main_zoom_image_once_and_reports_other_zooms_apart() -> None:
    names = [f"img{i}.jpg" for i in range(6)]
    splits = plan("eggs", names, 2, other_zoom=["img0.jpg", "img3.jpg"])
    main = [held for group, held in splits if group == "eggs"]
    assert main == [["img1.jpg"], ["img2.jpg"], ["img4.jpg"], ["img5.jpg"]]
    apart = [(g, h) for g, h in splits if g != "eggs"]
    assert ("eggs, another zoom, one held out", ["img0.jpg"]) in apart
    assert ("eggs, another zoom, one held out", ["img3.jpg"]) in apart
    assert ("eggs, unseen zoom: all 2 held out", ["img0.jpg", "img3.jpg"]) in apart
    assert "leave-one-out over the 4 images" in protocol("eggs", 6, 2)


def test_tiny_folder_at_one_zoom_is_plain_leave_one_out() -> None:
    names = [f"img{i}.jpg" for i in range(5)]
    assert plan("eggs", names, 2) == [("eggs", [n]) for n in names]


def test_larger_folder_gets_different_random_hold_outs_of_the_set_size() -> None:
    names = [f"img{i:02d}.png" for i in range(29)]
    splits = plan("mbm", names, 3)
    assert len(splits) == 3 and {g for g, _ in splits} == {"mbm"}
    assert all(len(h) == 6 and len(set(h)) == 6 and set(h) <= set(names) for _, h in splits)
    assert splits[0] != splits[1]
    assert plan("mbm", names, 3) == splits  # fixed seeds: the same splits on every run


def test_limit_rows_are_reported_apart_and_not_against_the_target() -> None:
    def row(group: str, mre: float) -> dict:
        m = {"mae": mre * 200, "mre": mre, "bias": 0.0, "f1": 0.9}
        return {"folder": "mosquito-eggs", "group": group, "int8": m, "float": m}

    text = table(
        [row("mosquito-eggs", 0.01), row("mosquito-eggs", 0.03), row("mosquito-eggs, zoom", 0.4)]
    )
    lines = text.splitlines()
    main = [ln for ln in lines if ln.startswith("| mosquito-eggs (2 splits) | int8")]
    stress = [ln for ln in lines if ln.startswith("| mosquito-eggs, zoom (1 split) | int8")]
    assert main and "2.00% ± 1.00" in main[0] and "MRE ≤ 2.5%" in main[0]
    assert stress and "40.00%" in stress[0] and "MRE ≤ 4% (another zoom)" in stress[0]


def test_speed_rows_are_the_default_models_of_the_first_split_only() -> None:
    def res(folder: str, split: int, budget: float, group: str = "", arch: str = "lite") -> dict:
        return {
            "folder": folder,
            "group": group or folder,
            "split": split,
            "budget": budget,
            "arch": arch,
        }

    results = [
        res("mbm", 0, 2.0),
        res("mbm", 1, 2.0),
        res("mbm", 0, 0.5, "mbm frontier"),
        res("mbm", 0, 2.0, "mbm frontier", "unet"),
    ]
    assert [r["budget"] for r in first_split(results, "mbm")] == [2.0, 0.5, 2.0]
    assert [is_default(r) for r in first_split(results, "mbm")] == [True, False, False]
    timed = dict(results[0], gmac=1.99, int8_kb=75.4, float_kb=158.0)
    timed["speed"] = {"int8-1": 160.2, "int8-2": 95.0, "float-1": 140.0, "float-2": 80.4}
    rows = [ln for ln in speed_table([timed, *results[1:]]).splitlines() if ln.startswith("| mbm")]
    assert rows == ["| mbm | 1.99 | 160 | 95 | 140 | 80 | 75 | 158 |"]


def test_a_splits_seed_is_its_number_within_the_folder_whatever_else_is_benched() -> None:
    names = [f"img{i}.jpg" for i in range(30)]
    splits = plan("mbm", names, 2)
    plain = folder_jobs("mbm", splits, [0.7], [], [])
    wide = folder_jobs("mbm", splits, [0.7], [0.5, 1.0], ["unet"])
    assert [j[1] for j in plain] == [0, 1]
    assert wide[: len(plain)] == plain  # frontier points add rows, they move no seed
    front = wide[len(plain) :]
    assert [(j[1], j[4], j[6]) for j in front] == [
        (0, 0.5, DEFAULT_ARCH),
        (0, 1.0, DEFAULT_ARCH),
        (0, DEFAULT_BUDGET_GMAC, "unet"),
    ]
    assert all(j[2] == splits[0][1] and j[5] == () for j in front)
