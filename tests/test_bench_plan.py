"""The accuracy benchmark's splits: tiny folders leave-one-out, larger ones random hold-outs."""

from tests.benchmarks.accuracy import plan, protocol, table


def test_tiny_folder_holds_out_every_image_once() -> None:
    names = [f"img{i}.jpg" for i in range(6)]
    splits = plan("mosquito-eggs", names, 2)
    assert splits == [[n] for n in names]
    assert protocol("mosquito-eggs", 6) == "mosquito-eggs: leave-one-out (6 splits)"


def test_larger_folder_gets_different_random_hold_outs_of_the_set_size() -> None:
    names = [f"img{i:02d}.png" for i in range(29)]
    splits = plan("mbm", names, 3)
    assert len(splits) == 3
    assert all(len(s) == 6 and len(set(s)) == 6 and set(s) <= set(names) for s in splits)
    assert splits[0] != splits[1]
    assert plan("mbm", names, 3) == splits  # fixed seeds: the same splits on every run


def test_stress_rows_are_reported_apart_and_not_against_the_target() -> None:
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
    assert stress and "40.00%" in stress[0] and "not a target" in stress[0]
