"""The terminal UI: the count large enough to read from a stool, the sample, a preview, history.

A consumer of bench events only: the bench runs captures and counting on its own worker
thread and events come back to the UI thread through call_from_thread.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Digits, Footer, Input, Label, Static

from device.bench import Bench, BenchEvent
from device.errors import BadInput
from device.names import check_sample
from device.overlay import draw_overlay
from device.tui.preview import Preview

log = logging.getLogger(__name__)


class Plain(Text):
    """Text that equals its own characters, so a table cell compares like the str it shows."""

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return self.plain == other
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]


def plain(value: object) -> Plain:
    """Sample ids, QR labels, model and class names and error messages are data: a Text is
    drawn as it is, where a str would be parsed as Textual markup (`vial-12[/]` raises)."""
    return Plain(str(value))


class Dialog(ModalScreen[str | None]):
    """A small box in the middle of the screen; Escape closes it with no answer."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]
    DEFAULT_CSS = """
    Dialog { align: center middle; }
    Dialog > Vertical { width: 72; height: auto; border: thick $accent; padding: 1 2;
                        background: $surface; }
    """

    def action_cancel(self) -> None:
        self.dismiss(None)


class SampleScreen(Dialog):
    """Edit the sample id; Enter keeps it."""

    def __init__(self, sample: str) -> None:
        super().__init__()
        self.sample = sample

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Sample id (counts go on from here: vial-007, vial-008, ...)")
            yield Input(value=self.sample, id="sample-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        # Checked where it enters: a bad id keeps the dialog open with the reason (as text).
        try:
            value = check_sample(event.value.strip(), "sample")
        except BadInput as e:
            found = self.query("#sample-error")
            if found:
                found.first(Label).update(Text(str(e)))
            else:
                self.query_one(Vertical).mount(Label(Text(str(e)), id="sample-error"))
            return
        self.dismiss(value)


class ModelsScreen(Dialog):
    BINDINGS = [Binding("escape,m,q", "cancel", "close")]

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(plain(self.text), id="models-text")
            yield Label("Escape to close")


class BenchApp(App[int]):
    TITLE = "scopecount"
    CSS_PATH = "app.tcss"
    BINDINGS = [
        Binding("space", "press", "count", priority=True),
        Binding("s", "sample", "sample"),
        Binding("v", "void", "void last"),
        Binding("m", "models", "models"),
        Binding("q", "quit", "quit"),
    ]

    def __init__(self, bench: Bench, **kw: Any) -> None:
        super().__init__(**kw)
        self.bench = bench
        self.classes_: list[str] = []
        self.ready_info: dict[str, Any] = {}
        self.storage: dict[str, Any] = {}
        self.model_name = ""
        self.model_sha = ""
        self.message = ""

    # -- layout -----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="top"):
            with Vertical(id="counts"):
                yield Label("", id="count-label")
                yield Digits("-", id="count-digits")
                yield Label("", id="count-text")
                yield Label("", id="sample")
                yield Label("", id="flags")
            yield Preview(id="preview")
        table: DataTable[str] = DataTable(id="history", cursor_type="row")
        table.can_focus = False
        yield table
        yield Label("", id="message")
        yield Label("starting...", id="status")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#history", DataTable)
        # Fixed widths: the table never jumps about as rows arrive.
        widths = {"time": 8, "sample": 16, "counts": 28, "flags": 16, "id": 26}
        for col, width in widths.items():
            table.add_column(col, key=col, width=width)
        self.bench.subscribe(self._from_bench)
        try:
            signal.signal(signal.SIGUSR1, lambda *_: self.bench.press("signal"))
        except ValueError:
            pass  # not the main thread (tests): the signal stays with the test runner
        self.bench.start()

    # -- events from the bench --------------------------------------------------------------
    def _from_bench(self, ev: BenchEvent) -> None:
        # The worker thread hands events over; a signal handler already runs on the UI thread.
        # A screen update that fails must not reach the bench's worker thread: the record is
        # already written and the next press must still be taken.
        try:
            if threading.get_ident() == self._thread_id:
                self.on_bench_event(ev)
            else:
                self.call_from_thread(self.on_bench_event, ev)
        except Exception:
            log.exception("the screen could not show a %s event", ev.kind)

    def on_bench_event(self, ev: BenchEvent) -> None:
        d = ev.data
        if ev.kind == "ready":
            self.ready_info = d
            self.classes_ = list(d["classes"])
            self.model_name = d["model"]
            self.model_sha = d.get("model_sha256", "")
            self.storage = d["storage"]
            self.query_one("#sample", Label).update(plain(f"sample: {d['sample']}"))
            self.say("ready: put a vial under the scope and press the button (or space)")
        elif ev.kind == "recorded":
            self.show_record(ev)
        elif ev.kind == "error":
            self.say(f"ERROR: {d['message']}", error=True)
        elif ev.kind == "refused":
            if d["reason"] == "busy":
                self.say("busy: still counting the last vial")
        elif ev.kind == "voided":
            self.say(f"voided {d['id']} (sample {d['sample']})")
            table = self.query_one("#history", DataTable)
            if d["id"] in table.rows:
                table.update_cell(d["id"], "flags", plain("VOIDED"))
        elif ev.kind == "storage":
            self.storage = d
        elif ev.kind == "model":
            self.model_name = d.get("name", self.model_name)
            self.model_sha = d.get("sha256", self.model_sha)
            self.classes_ = list(d.get("classes", self.classes_))
            self.say(d.get("message", f"model now {self.model_name}"), error=bool(d.get("error")))
        elif ev.kind == "sample":
            self.query_one("#sample", Label).update(plain(f"sample: {d['sample']}"))
        self.update_status()

    def show_record(self, ev: BenchEvent) -> None:
        d = ev.data
        counts: dict[str, int] = d["counts"]
        main = self.classes_[0] if self.classes_ else next(iter(counts), "")
        self.query_one("#count-label", Label).update(plain(main))
        self.query_one("#count-digits", Digits).update(str(counts.get(main, 0)))
        text = "  ".join(f"{c}: {n}" for c, n in counts.items())
        self.query_one("#count-text", Label).update(plain(text))
        self.query_one("#sample", Label).update(
            plain(f"sample: {d['sample']}   next: {d['next_sample']}")
        )
        flags = self.query_one("#flags", Label)
        flags.update(plain("\n".join(f"! {w}" for w in d["why"])))
        table = self.query_one("#history", DataTable)
        table.add_row(
            plain(d.get("time", "")[11:19]),
            plain(d["sample"]),
            plain(text),
            plain(" ".join(d["flags"]) or "ok"),
            plain(d["id"]),
            key=d["id"],
        )
        table.move_cursor(row=table.row_count - 1)
        if ev.frame is not None:
            pic = draw_overlay(ev.frame, ev.points or [], counts, self.classes_, d["flags"])
            self.query_one("#preview", Preview).show(pic)
        where = "USB stick" if d["stored"] == "stick" else d["stored"]
        self.say(f"recorded {d['id']}: {text} (saved to {where})")

    def say(self, text: str, error: bool = False) -> None:
        self.message = text
        msg = self.query_one("#message", Label)
        msg.update(plain(text))
        msg.set_class(error, "error")

    def update_status(self) -> None:
        st = self.storage
        if st.get("where") == "spool":
            store = (
                f"NO STICK: {st.get('reason')} - saving to SD card ({st.get('waiting', 0)} waiting)"
            )
        elif st:
            store = f"{st.get('where')}: {st.get('free_mb', 0):.0f} MB free"
            if st.get("warning"):
                store += f" ({st['warning']})"
        else:
            store = "?"
        cam = self.ready_info.get("camera", "?")
        self.query_one("#status", Label).update(
            plain(
                f"model {self.model_name} ({self.model_sha[:8]}) | camera {cam} | storage {store}"
            )
        )

    # -- actions ----------------------------------------------------------------------------
    def action_press(self) -> None:
        if self.bench.press("keyboard"):
            self.say("counting...")

    def action_sample(self) -> None:
        def done(value: str | None) -> None:
            if value:
                self.bench.set_sample(value)

        self.push_screen(SampleScreen(self.bench.sample), done)

    def action_void(self) -> None:
        self.bench.hold()

    def action_models(self) -> None:
        info = self.ready_info
        lines = [f"active: {self.model_name}", f"classes: {', '.join(self.classes_)}"]
        if info.get("model_sha256"):
            lines.append(f"sha256: {info['model_sha256'][:16]}...")
        lines.append("New models arrive with `scopecount deploy` from the workstation.")
        self.push_screen(ModelsScreen("\n".join(lines)))

    async def action_quit(self) -> None:
        self.bench.stop()
        self.exit(0)
