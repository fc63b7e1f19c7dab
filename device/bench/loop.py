"""The one-press loop: press -> light -> settle -> capture -> count -> record -> event.

The bench knows no UI. It publishes events to subscribers (the Textual app, the headless
runner, tests); all hardware and the model come in through the constructor.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from device.bench.events import (
    BenchEvent,
    Error,
    Flushed,
    ModelChanged,
    Ready,
    Refused,
    SampleChanged,
    StorageChanged,
    Voided,
)
from device.bench.jobs import Capture, Job, Stop, VoidLast
from device.bench.model_sources import ModelSource
from device.bench.recorded import recorded
from device.bench.recorded import warning_of as _warning
from device.config import QualityCfg
from device.core.errors import BadInput
from device.core.names import check_sample, clean_sample, next_sample
from device.hardware.camera import Camera, CameraError, Frame
from device.hardware.light import Light
from device.measuring.calibration import Calibration
from device.measuring.detector import Detector
from device.measuring.quality import image_flags, read_qr
from device.measuring.result import Measurement
from device.records.record import Detection, Record
from device.records.recorder import Recorder, StorageFull

log = logging.getLogger(__name__)


class Bench:
    def __init__(
        self,
        camera: Camera,
        light: Light,
        models: ModelSource,
        recorder: Recorder,
        quality: QualityCfg | None = None,
        settle_s: float = 0.15,
        debounce_s: float = 0.03,
        sample: str = "sample-001",
        poll_s: float = 1.0,
        flush_slice_s: float = 2.0,
        camera_dead_after: int = 5,
        clock_ok: Callable[[], bool] = lambda: True,
        calibration: Calibration | None = None,
    ) -> None:
        self.camera = camera
        self.light = light
        self.models = models
        self.recorder = recorder
        self.quality = quality or QualityCfg()
        self.settle_s = settle_s
        self.debounce_s = debounce_s
        self.sample = sample
        self.poll_s = poll_s
        # A spool flush runs in slices this long: between two, the worker is back at its queue
        # (a press is served, the watchdog sees it alive), however slow the stick.
        self.flush_slice_s = flush_slice_s
        self._flush_more = False
        # Presses that failed in the camera, in a row: past camera_dead_after the watchdog
        # pings stop and systemd restarts the service, which opens the camera anew.
        self.camera_dead_after = camera_dead_after
        self._camera_failures = 0
        # False: every record is flagged "clock" (see device/bench/clock.py)
        self.clock_ok = clock_ok
        self.calibration = calibration  # micrometres per pixel: mm² and per-mm² in records
        self.last_record: Record | None = None
        self._last_voided: str | None = None  # id of the record the last hold voided
        self._last_from_qr = False
        self._subs: list[Callable[[BenchEvent], None]] = []
        self._jobs: queue.Queue[Job] = queue.Queue()
        self._lock = threading.Lock()
        self._busy = False
        self._last_edge = -math.inf
        self._thread: threading.Thread | None = None
        self._storage_seen: tuple[str, str, str] = ("", "", "")
        self._beat = time.monotonic()  # the worker was last at its queue (for the watchdog)

    # -- events -----------------------------------------------------------------------------
    def subscribe(self, fn: Callable[[BenchEvent], None]) -> None:
        self._subs.append(fn)

    def publish(self, ev: BenchEvent) -> None:
        for fn in list(self._subs):
            # One consumer failing (a screen that cannot draw a label) must not stop the
            # others, nor the worker thread that publishes: the next press is still taken.
            try:
                fn(ev)
            except Exception:
                log.exception("a subscriber failed on a %s event", ev.kind)

    # -- inputs (any thread) ----------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._busy

    def press(self, source: str = "button") -> bool:
        """A press: taken unless a capture is in progress or it is contact bounce."""
        now = time.monotonic()
        with self._lock:
            bounce = now - self._last_edge < self.debounce_s
            self._last_edge = now
            if self._busy or bounce:
                reason = "busy" if self._busy else "bounce"
                refused = True
            else:
                self._busy = True
                refused = False
        if refused:
            if reason == "busy":  # contact bounce is not news: no event per bounce edge
                self.publish(Refused(reason=reason, source=source))
            return False
        self._jobs.put(Capture(source))
        return True

    def hold(self) -> None:
        self._jobs.put(VoidLast())

    def set_sample(self, sample: str) -> None:
        """A sample id typed in: checked here too (an error event, the id stays) for callers
        that did not check it (the TUI dialog does)."""
        try:
            self.sample = check_sample(sample.strip() or self.sample, "sample")
        except BadInput as e:
            self.publish(Error(message=str(e)))
            return
        self.publish(SampleChanged(sample=self.sample))

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> None:
        self.light.ready()
        self._thread = threading.Thread(target=self._run, name="bench", daemon=True)
        self._thread.start()
        counter = self.models.current()
        self.publish(
            Ready(
                model=counter.name,
                model_sha256=counter.sha256,
                classes=counter.info.classes,
                warning=_warning(counter),
                camera=self.camera.describe(),
                storage=self.recorder.state().as_dict(),
                sample=self.sample,
            )
        )

    def healthy(self, stuck_s: float = 15.0) -> bool:
        """For the watchdog: the worker runs and came back to its queue within stuck_s."""
        if self._thread is None:
            return True  # not started yet: start-up time is the service manager's to limit
        if self._camera_failures >= self.camera_dead_after:
            return False
        return self._thread.is_alive() and time.monotonic() - self._beat < stuck_s

    def stop(self, timeout: float = 5.0) -> None:
        self._jobs.put(Stop())
        if self._thread is not None:
            self._thread.join(timeout)
        self.light.off()

    # -- the worker -------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            self._beat = time.monotonic()
            try:
                wait = 0.01 if self._flush_more else self.poll_s  # a flush in slices goes on
                job = self._jobs.get(timeout=wait)
            except queue.Empty:
                try:
                    self._housekeeping()
                except Exception:  # never let housekeeping end the worker
                    log.exception("housekeeping failed")
                continue
            if isinstance(job, Stop):
                return
            try:
                if isinstance(job, Capture):
                    self._capture(job.source)
                elif isinstance(job, VoidLast):
                    self._void()
            except Exception as e:  # the bench must stay up whatever one press does
                log.exception("%s failed", type(job).__name__)
                self._fail(f"unexpected {type(e).__name__}: {e}")

    def _housekeeping(self) -> None:
        ev = self.models.poll()
        if ev is not None:
            if isinstance(ev, ModelChanged):
                ev = replace(ev, warning=_warning(self.models.current()))
            self.publish(ev)
        try:
            state = self.recorder.state()
            self._flush_more = False
            if state.where != "spool" and self.recorder.needs_flush():
                rep = self.recorder.flush(budget_s=self.flush_slice_s)
                self._flush_more = rep.more
                if rep.moved or rep.renamed or rep.quarantined:
                    renamed = [{"from": a, "to": b} for a, b in rep.renamed]
                    self.publish(
                        Flushed(records=rep.moved, renamed=renamed, quarantined=rep.quarantined)
                    )
                state = self.recorder.state()
        except OSError as e:
            log.exception("storage housekeeping failed")
            self.publish(Error(message=f"storage: {e}"))
            return
        # News when the place, the reason or a warning (stick nearly full) changes.
        seen = (state.where, state.reason, state.warning)
        if seen != self._storage_seen:
            self._storage_seen = seen
            self.publish(StorageChanged(**state.as_dict()))

    def _fail(self, message: str) -> None:
        self.light.error()
        self._free()
        self.publish(Error(message=message))

    def _free(self) -> None:
        """The press is over: the next one is taken at once (its edge is no bounce of this)."""
        with self._lock:
            self._busy = False
            self._last_edge = -math.inf

    def _capture(self, source: str) -> None:
        t0 = time.perf_counter()
        frame = self._take_frame()
        if frame is None:
            return
        t_cap = time.perf_counter()
        flags, figures = image_flags(frame.rgb, self.quality)
        qr = read_qr(frame.rgb) if self.quality.qr else None
        # A label nobody can retype: cleaned, never refused.
        sample = clean_sample(qr) if qr else self.sample
        counter = self.models.current()
        res = self._count(counter, frame.rgb)
        if res is None:
            return
        t_count = time.perf_counter()
        flags = flags + res.flags + self._record_flags(counter)
        if res.zoom is not None:
            figures["zoom"] = res.zoom
        extra = {"quality": figures, "source": source, "sample_source": "qr" if qr else "bench"}
        if self.calibration is not None:
            extra |= self.calibration.record_fields(res, frame.rgb.shape[:2])
        rec = self._write(frame.rgb, res, counter, sample, flags, extra)
        if rec is None:
            return
        self.last_record = rec
        self._last_voided = None
        self._last_from_qr = bool(qr)
        if not qr:
            self.sample = next_sample(sample)
        t_rec = time.perf_counter()
        self._free()
        ms = {
            "capture": round((t_cap - t0) * 1000, 1),
            "count": round((t_count - t_cap) * 1000, 1),
            "record": round((t_rec - t_count) * 1000, 1),
            "total": round((t_rec - t0) * 1000, 1),
        }
        self.publish(recorded(rec, res, counter, flags, frame.rgb, ms, self.sample))

    def _record_flags(self, counter: Detector) -> list[str]:
        """What every record carries beyond the image's and the count's own flags: a clock not
        known right, a demo or not-learnt model."""
        flags = [] if self.clock_ok() else ["clock"]
        model_flag = getattr(counter.info, "warning_flag", "")  # stand-in counters have none
        return flags + ([model_flag] if model_flag else [])

    def _write(
        self,
        rgb: np.ndarray,
        res: Measurement,
        counter: Detector,
        sample: str,
        flags: list[str],
        extra: dict[str, object],
    ) -> Record | None:
        """The record on the stick or the spool; None (and an error) when it cannot be."""
        try:
            return self.recorder.write(
                rgb,
                res.counts,
                [Detection(float(x), float(y), str(c)) for x, y, c in res.points],
                res.counted(counter.info.classes),
                sample,
                counter.name,
                counter.sha256,
                flags,
                extra=extra | res.record_fields(counter.info.classes),
                class_map=res.class_map,
            )
        except OSError as e:
            log.exception("could not record")
            self._fail(f"could not record: {e}")
            return None

    def _take_frame(self) -> Frame | None:
        """Space on the spool, the ring at full, the settle, one frame; None after an error."""
        try:
            self.recorder.check_space()
        except StorageFull as e:
            self._fail(str(e))
            return None
        self.light.capture()
        if self.settle_s:
            time.sleep(self.settle_s)
        try:
            frame = self.camera.capture()
        except CameraError as e:
            log.warning("capture failed", exc_info=True)
            self._camera_failures += 1
            self._fail(f"camera: {e}")
            return None
        self._camera_failures = 0
        self.light.ready()  # also ends the error blinking once the camera is back
        return frame

    def _count(self, counter: Detector, rgb: np.ndarray) -> Measurement | None:
        """The model's count; on a failure the model source may roll back, and None."""
        try:
            return counter.measure(rgb)
        except Exception as e:
            log.exception("model %s failed", counter.name)
            ev = self.models.failed(e)
            if ev is not None:
                self.publish(replace(ev, warning=_warning(self.models.current())))
            self._fail(f"model {counter.name} failed: {e}")
            return None

    def _void(self) -> None:
        rec = self.last_record
        if rec is None:
            if self._last_voided is not None:  # a second hold: say so, nothing changes
                self.publish(
                    Refused(
                        reason="already voided",
                        id=self._last_voided,
                        message=f"{self._last_voided} is already voided; "
                        "only the last record can be voided",
                    )
                )
                return
            self.publish(Error(message="nothing to void yet"))
            return
        try:
            self.recorder.void(rec.id, rec.time[:10])
        except OSError as e:
            log.exception("could not void %s", rec.id)
            self._fail(f"could not void {rec.id}: {e}")
            return
        self.last_record = None
        self._last_voided = rec.id
        self.publish(Voided(id=rec.id, sample=rec.sample))
        if not self._last_from_qr:  # the vial is counted again under the same id
            self.set_sample(rec.sample)
