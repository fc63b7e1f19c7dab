"""ML-morph's method as the landmarks benchmark's baseline: dlib's shape predictor (an ensemble
of regression trees, Kazemi & Sullivan 2014) with ML-morph's training settings (Porto & Voje
2020, shape_trainer.py: tree depth 4, cascade depth 15, nu 0.1, oversampling 10, 20 test
splits, feature pool 500, 500 trees per level), each wing's box the whole image as ML-morph's
preprocessing draws it. dlib comes with the `bench` extra (it builds from source)."""

from __future__ import annotations

import numpy as np

from export.landmarks_folder import LandmarksFolder


class MLMorph:
    def __init__(self, threads: int = 2) -> None:
        import dlib  # the bench extra: imported only where the baseline runs

        self.dlib = dlib
        o = dlib.shape_predictor_training_options()
        o.tree_depth = 4
        o.cascade_depth = 15
        o.nu = 0.1
        o.oversampling_amount = 10
        o.num_test_splits = 20
        o.feature_pool_size = 500
        o.num_trees_per_cascade_level = 500
        o.num_threads = threads
        o.be_verbose = False
        self.options = o
        self.predictor = None

    def _box(self, h: int, w: int):
        return self.dlib.rectangle(1, 1, w - 2, h - 2)

    def fit(self, folder: LandmarksFolder) -> MLMorph:
        dlib = self.dlib
        images, objects = [], []
        for s in folder.samples:
            if not np.isfinite(s.points).all():
                continue  # the shape predictor needs every landmark of a training wing
            rgb = np.ascontiguousarray(s.image())
            parts = [dlib.point(int(round(x)), int(round(y))) for x, y in s.points]
            images.append(rgb)
            objects.append([dlib.full_object_detection(self._box(*rgb.shape[:2]), parts)])
        self.predictor = dlib.train_shape_predictor(images, objects, self.options)
        return self

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        shape = self.predictor(np.ascontiguousarray(rgb), self._box(*rgb.shape[:2]))
        return np.array([[p.x, p.y] for p in shape.parts()], np.float64)
