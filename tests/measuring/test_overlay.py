"""`count --overlay`: a ring round each counted point, the point itself left as photographed."""

import numpy as np

from device.measuring.overlay import class_colour, draw_overlay


def test_rings_leave_what_they_mark_visible():
    frame = np.full((480, 640, 3), 200, np.uint8)
    frame[298:303, 398:403] = (10, 20, 30)  # the object: must stay visible inside its mark
    pic = draw_overlay(frame, [(400.0, 300.0, "egg")], {"egg": 1}, ["egg"])
    assert (pic[298:303, 398:403] == frame[298:303, 398:403]).all()
    r = max(4, round(480 / 100))
    ring = pic[300, 400 + r]
    assert np.abs(ring.astype(int) - class_colour(0)).max() < 60
    assert (pic[300, 400 + 3 * r] == 200).all()  # nothing drawn beyond the ring


def test_dots_fill_the_mark_for_the_preview():
    frame = np.zeros((480, 640, 3), np.uint8)
    pic = draw_overlay(frame, [(400.0, 300.0, "egg")], {"egg": 1}, ["egg"], rings=False)
    assert np.abs(pic[300, 400].astype(int) - class_colour(0)).max() < 10


def test_rings_go_round_objects_of_the_size_given():
    frame = np.full((480, 640, 3), 200, np.uint8)
    frame[296:305, 396:405] = (10, 20, 30)  # a 9 px object
    pic = draw_overlay(frame, [(400.0, 300.0, "egg")], {"egg": 1}, ["egg"], radius=9)
    assert (pic[296:305, 396:405] == frame[296:305, 396:405]).all()
    assert np.abs(pic[300, 409].astype(int) - class_colour(0)).max() < 60
