"""The areas evaluation's share scatter: what a scientist looks at first."""

from __future__ import annotations


def test_the_share_scatter_draws_the_images_flagged_uncertain_as_rings():
    from export.plots import fraction_scatter_figure

    true = {"gland": [0.1, 0.5, 0.9]}
    pred = {"gland": [0.12, 0.3, 0.88]}
    fig = fraction_scatter_figure(true, pred, "t", [False, True, False])
    ax = fig.axes[0]
    points = [c for c in ax.collections if len(c.get_offsets())]
    filled, rings = points
    assert filled.get_offsets().tolist() == [[10.0, 12.0], [90.0, 88.0]]
    assert rings.get_offsets().tolist() == [[50.0, 30.0]]
    assert rings.get_facecolors().size == 0  # hollow
    assert "flagged uncertain" in [t.get_text() for t in ax.get_legend().get_texts()]
    plain = fraction_scatter_figure(true, pred, "t").axes[0]
    assert "flagged uncertain" not in [t.get_text() for t in plain.get_legend().get_texts()]
