"""The terminal UI: the count large enough to read from a stool, the sample, a preview, history.

A consumer of bench events only: the bench runs captures and counting on its own worker
thread and events come back to the UI thread through call_from_thread.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual import events
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Digits, Footer, Input, Label, Static

from device.bench.events import (
    BenchEvent,
    Error,
    ModelChanged,
    Ready,
    Recorded,
    Refused,
    SampleChanged,
    StorageChanged,
    Voided,
)
from device.bench.loop import Bench, next_sample
from device.core.errors import BadInput
from device.core.names import check_sample
from device.records.recorder import record_id
from device.tui.preview import Preview
from device.tui.result_view import result_view

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
    Dialog > Vertical { width: 72; max-width: 100%; height: auto; border: thick $accent;
                        padding: 1 2; background: $surface; }
    Dialog Label { width: 100%; }
    """

    def action_cancel(self) -> None:
        self.dismiss(None)


class SampleScreen(Dialog):
    """Edit the sample id; Enter keeps it."""

    def __init__(self, sample: str) -> None:
        super().__init__()
        self.sample = sample

    def compose(self) -> ComposeResult:
        after = next_sample(self.sample)
        with Vertical():
            yield Label(
                plain(
                    f"Sample id for the next count (now {self.sample}; the counts after it go "
                    f"on as {after}, {next_sample(after)}, ...)"
                ),
                id="sample-hint",
            )
            # No select-all on focus: keys typed at once after `s` (End, Backspace, a letter)
            # edit the id where the cursor is, however fast they come.
            yield Input(value=self.sample, id="sample-input", select_on_focus=False)
            yield Label("Enter: keep it   Escape: cancel", id="sample-keys")

    def type_key(self, event: events.Key) -> None:
        """A key typed at once after `s` (a quick hand, a barcode scanner, a tmux script) is
        dispatched before this dialog is on screen; the app hands it here so it edits the
        field as if the field had had it."""
        # Editing keys (End, Backspace, Enter) find the field through its bindings already;
        # printable characters need the field to be the key's target, which it was not yet.
        field = self.query_one("#sample-input", Input)
        field.focus()
        if event.is_printable and event.character:
            field.insert_text_at_cursor(event.character)
            event.stop()

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


SHORT_ID = len("20260504-000001")  # an id's date and number: what tells this bench's rows apart


def history_widths(columns: int, id_len: int) -> dict[str, int]:
    """Column widths that fit the terminal (80 columns: the Pi's console), counts taking what
    is left. Ids are shown whole when they fit, else as their date and number (the bench name
    and install id in front are the same on every row; the message line has the whole id)."""
    sample = 12 if columns < 100 else 16
    padding = 2 * 5 + 2  # cell padding and the scrollbar gutter
    rest = columns - 8 - sample - 12 - padding
    id_w = id_len if rest - id_len >= 10 else min(id_len, SHORT_ID)
    counts = max(8, rest - id_w)
    return {"time": 8, "sample": sample, "counts": counts, "flags": 12, "id": id_w}


def id_cell(record_id: str, width: int) -> str:
    return record_id if len(record_id) <= width else record_id[-width:]


def flag_cell(flags: list[str]) -> str:
    """'empty', or 'empty+1' for two flags: fits the column; the full words are above it."""
    return flags[0] + (f"+{len(flags) - 1}" if len(flags) > 1 else "")


class BenchApp(App[int]):
    TITLE = "scopecount"
    CSS_PATH = "app.tcss"
    BINDINGS = [
        Binding("space", "press", "count", priority=True),
        Binding("s", "sample", "sample"),
        Binding("v", "void", "void last"),
        Binding("m", "models", "model"),
        Binding("q", "quit", "quit"),
    ]
    # The bench's own keys do nothing while a dialog is open (space types into the sample id).
    MAIN_ONLY = {"press", "sample", "void", "models", "quit"}

    def __init__(self, bench: Bench, **kw: Any) -> None:
        super().__init__(**kw)
        self.bench = bench
        self.classes_: list[str] = []
        self.ready_info: dict[str, Any] = {}
        self.storage: dict[str, Any] = {}
        self.model_name = ""
        self.model_sha = ""
        self.model_warning = ""
        self.message = ""
        self.id_len = SHORT_ID
        self.shown_id = ""  # the record the big digits show

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
        # Fixed widths: the table never jumps about as rows arrive; they follow the terminal.
        rec = self.bench.recorder
        self.id_len = len(record_id(rec.bench, rec.bench_id, "2026-01-01", 1))
        for col, width in history_widths(self.size.width, self.id_len).items():
            table.add_column(col, key=col, width=width)
        self.bench.subscribe(self._from_bench)
        try:
            signal.signal(signal.SIGUSR1, lambda *_: self.bench.press("signal"))
        except ValueError:
            pass  # not the main thread (tests): the signal stays with the test runner
        self.bench.start()

    def on_resize(self, event: events.Resize) -> None:
        table = self.query_one("#history", DataTable)
        for col, width in history_widths(event.size.width, self.id_len).items():
            if col in table.columns:
                table.columns[col].width = width  # type: ignore[index]
        table.refresh(layout=True)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.MAIN_ONLY and isinstance(self.screen, ModalScreen):
            return False
        return True

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The palette offers the bench's commands, not Textual's themes and screenshots."""
        if isinstance(screen, ModalScreen):
            return
        yield SystemCommand("Count", "count the vial under the scope (space)", self.action_press)
        yield SystemCommand("Sample id", "edit the sample id (s)", self.action_sample)
        yield SystemCommand("Void last", "void the last record (v)", self.action_void)
        yield SystemCommand("Model", "the model in use (m)", self.action_models)
        yield SystemCommand("Quit", "stop the bench (q)", self.action_quit)

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
        match ev:
            case Ready():
                self.ready_info = ev.data
                self.classes_ = list(ev.classes)
                self.model_name = ev.model
                self.model_sha = ev.model_sha256
                self.model_warning = ev.warning
                self.storage = ev.storage
                self.query_one("#sample", Label).update(plain(f"sample: {ev.sample}"))
                self.say("ready: put a vial under the scope and press the button (or space)")
            case Recorded():
                self.show_record(ev)
            case Error():
                self.say(f"ERROR: {ev.message}", error=True)
            case Refused():
                if ev.reason == "busy":
                    self.say("busy: still counting the last vial")
                elif ev.message:
                    self.say(f"not voided: {ev.message}", error=True)
            case Voided():
                self.show_voided(ev)
            case StorageChanged():
                self.storage = ev.data
            case ModelChanged():
                self.model_name = ev.name
                self.model_sha = ev.sha256
                self.model_warning = ev.warning
                self.classes_ = list(ev.classes)
                self.say(ev.message or f"model now {ev.name}", error=bool(ev.error))
            case SampleChanged():
                self.query_one("#sample", Label).update(plain(f"sample: {ev.sample}"))
        self.update_status()

    def show_voided(self, ev: Voided) -> None:
        self.say(f"voided {ev.id}: count sample {ev.sample} again")
        table = self.query_one("#history", DataTable)
        if ev.id in table.rows:
            table.update_cell(ev.id, "flags", plain("VOIDED"))
        if ev.id == self.shown_id:  # a voided count must not stay up as the result
            self.query_one("#count-label", Label).update(plain(f"VOIDED ({ev.id})"))
            digits = self.query_one("#count-digits", Digits)
            digits.update("-")
            digits.set_class(True, "flagged")
            self.query_one("#count-text", Label).update(plain(f"count sample {ev.sample} again"))

    def show_record(self, ev: Recorded) -> None:
        v = result_view(ev, self.classes_)
        flagged = bool(ev.flags)
        head = f"{v.main}{v.unit}" + (f"  (FLAGGED: {', '.join(ev.flags)})" if flagged else "")
        self.query_one("#count-label", Label).update(plain(head))
        self.shown_id = ev.id
        digits = self.query_one("#count-digits", Digits)
        digits.update(v.big)
        digits.set_class(flagged, "flagged")
        self.query_one("#count-text", Label).update(plain(v.lines))
        self.query_one("#sample", Label).update(
            plain(f"sample: {ev.sample}   next: {ev.next_sample}")
        )
        flags = self.query_one("#flags", Label)
        flags.update(plain("\n".join(f"! {w}" for w in ev.why)))
        table = self.query_one("#history", DataTable)
        table.add_row(
            plain(ev.time[11:19]),
            plain(ev.sample),
            plain(v.text),
            Plain(flag_cell(ev.flags), style="bold yellow") if flagged else plain("ok"),
            plain(id_cell(ev.id, table.columns["id"].width)),  # type: ignore[index]
            key=ev.id,
        )
        table.move_cursor(row=table.row_count - 1)
        if v.picture is not None:
            self.query_one("#preview", Preview).show(v.picture)
        where = "USB stick" if ev.stored == "stick" else ev.stored
        note = f" - FLAGGED {', '.join(ev.flags)}, check the vial" if flagged else ""
        self.say(f"recorded {ev.id}: {v.text} (saved to {where}){note}", error=flagged)

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
        # the warning's first clause: the status line has room for the gist, not the advice
        demo = f" - {self.model_warning.split(':')[0].upper()}" if self.model_warning else ""
        status = self.query_one("#status", Label)
        status.update(
            plain(
                f"storage {store}\n"
                f"model {self.model_name} ({self.model_sha[:8]}){demo} | camera {cam}"
            )
        )
        status.set_class(st.get("where") == "spool" or bool(self.model_warning), "warn")

    # -- actions ----------------------------------------------------------------------------
    def action_press(self) -> None:
        if self.bench.press("keyboard"):
            self.say("counting...")

    def on_key(self, event: events.Key) -> None:
        # Keys that reached the main screen while the sample dialog was being opened.
        if isinstance(self.screen, SampleScreen) and self.screen.is_mounted:
            self.screen.type_key(event)

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
