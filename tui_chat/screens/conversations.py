"""ConversationsScreen: pick, start, rename, delete and full-text search stored conversations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import ClassVar, TypeAlias

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content, Span
from textual.css.styles import RulesMap
from textual.screen import ModalScreen
from textual.strip import Strip
from textual.style import Style
from textual.timer import Timer
from textual.visual import RenderOptions, Visual
from textual.widgets import Button, Footer, Input, OptionList, Static
from textual.widgets.option_list import Option

from tui_chat.frame_timer import PacedUpdates
from tui_chat.sanitize import sanitize_line
from tui_chat.store import ConversationStore, ConversationSummary, SearchHit, StoreError

SEARCH_DELAY = 0.15
"""Seconds of no typing before a search runs, so each keystroke does not query the file."""

DATE_FORMAT = "%Y-%m-%d %H:%M"
UNTITLED = "Untitled conversation"
_GAP = 2
_MIN_LEFT = 12
"""Narrower than this, the right-hand column is dropped so the title stays readable."""


@dataclass(frozen=True, slots=True)
class OpenConversation:
    """Show this conversation; if `message_id` is set, scroll to that message (a search hit)."""

    conversation_id: int
    message_id: int | None = None


@dataclass(frozen=True, slots=True)
class NewConversation:
    """Start a new, empty conversation."""


ConversationChoice: TypeAlias = OpenConversation | NewConversation


class _Columns(Visual):
    """Lines made of a left part, cut with "…" to fit, and a right-aligned part.

    Laid out at whatever width the list has, so titles line up with their dates at any size.
    """

    def __init__(self, lines: Sequence[tuple[Content, Content]]) -> None:
        self._lines = tuple(lines)

    def get_optimal_width(self, rules: RulesMap, container_width: int) -> int:
        return max(
            left.cell_length + (_GAP + right.cell_length if right else 0)
            for left, right in self._lines
        )

    def get_height(self, rules: RulesMap, width: int) -> int:
        return len(self._lines)

    def render_strips(
        self, width: int, height: int | None, style: Style, options: RenderOptions
    ) -> list[Strip]:
        laid_out = Content("\n").join(self._fit(left, right, width) for left, right in self._lines)
        return _readable_meta(laid_out, style).render_strips(width, height, style, options)

    @staticmethod
    def _fit(left: Content, right: Content, width: int) -> Content:
        room = width - right.cell_length - _GAP
        if not right or room < _MIN_LEFT:
            return left.truncate(width, ellipsis=True)
        return left.truncate(room, ellipsis=True, pad=True) + " " * _GAP + right


def _readable_meta(content: Content, style: Style) -> Content:
    """Give the secondary text (dates, counts, roles) a colour of its own row: the quietest
    blend of the row's text into its background that stays readable (WCAG 4.5), so it reads
    on a plain row and on the highlighted one alike. Textual resolved the theme's "auto"
    colour for these spans as if on a dark background: white on the light themes' grey."""
    foreground, background = style.foreground, style.background
    if foreground is None or background is None or background.a < 1:
        return content
    from tui_chat.themes import secondary_text

    quiet = Style(foreground=secondary_text(background + foreground, [background]))
    spans = [Span(span.start, span.end, quiet) if span.style == _META else span
             for span in content.spans]
    return Content(content.plain, spans)


class _Entry(Option):
    """A row of the list and what choosing it means."""

    def __init__(
        self,
        prompt: Visual,
        choice: ConversationChoice | None,
        *,
        conversation_id: int | None = None,
        title: str = "",
        message_count: int | None = None,
    ) -> None:
        super().__init__(prompt, disabled=choice is None)
        self.choice = choice
        self.conversation_id = conversation_id
        self.title = title
        self.message_count = message_count


class ConversationList(OptionList):
    """The conversations, or the search hits, one entry per row."""

    DEFAULT_CSS = """
    ConversationList {
        height: 1fr;
        max-height: 100%;
        border: none;
        padding: 0;
        &:focus {
            border: none;
        }
        & > .conversation-list--meta {
            color: $text-muted;  /* in list rows, worked out per row: _readable_meta */
        }
        & > .conversation-list--match {
            color: $text-accent;
            text-style: bold underline;
        }
    }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "conversation-list--meta",
        "conversation-list--match",
    }
    """
    | Class | Description |
    | :- | :- |
    | `conversation-list--meta` | Dates, message counts and roles. |
    | `conversation-list--match` | The words a search matched, inside a snippet. |
    """

    def __init__(self, *, id: str | None = None) -> None:
        # Titles and snippets are user and model text: never read as markup.
        super().__init__(id=id, markup=False)

    @property
    def highlighted_entry(self) -> _Entry | None:
        option = self.highlighted_option
        return option if isinstance(option, _Entry) else None


_META = ".conversation-list--meta"
_MATCH = ".conversation-list--match"


class ConversationsScreen(PacedUpdates, ModalScreen[ConversationChoice | None]):
    """The stored conversations, newest first, with full-text search across all of them.

    Dismisses with `OpenConversation`, `NewConversation`, or None when closed. If the
    conversation given as `current_id` is deleted here, closing returns `NewConversation()`,
    since the chat cannot go on showing it.

    Args:
        store: Where the conversations are (read and written on the UI thread; it is fast).
        current_id: The conversation open in the chat, marked in the list.
        timezone: Zone for the dates shown; None means the local one (tests fix it).
    """

    DEFAULT_CSS = """
    ConversationsScreen {
        align: center middle;
        #conversations-panel {
            width: 100;
            max-width: 96%;
            height: 90%;
            border: round $primary;
            border-title-color: $text-primary;
            border-title-style: bold;
            background: $surface;
            padding: 0 1;
        }
        #conversations-search {
            margin: 1 0;
        }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        # Priority, so Enter also opens the highlighted row while the search box has focus.
        Binding("enter", "open", "Open", id="conversations.open", priority=True),
        Binding("n", "new", "New chat", id="conversations.new"),
        Binding("r", "rename", "Rename", id="conversations.rename"),
        Binding("d,delete", "delete", "Delete", id="conversations.delete"),
        Binding("slash", "search", "Search", id="conversations.search"),
        Binding("down", "results", "Go to results", show=False, id="conversations.results"),
        Binding("escape", "close", "Close", id="conversations.close"),
    ]

    AUTO_FOCUS = "ConversationList"

    def __init__(
        self,
        store: ConversationStore,
        *,
        current_id: int | None = None,
        timezone: tzinfo | None = None,
    ) -> None:
        super().__init__()
        self._store = store
        self._current_id = current_id
        self._timezone = timezone
        self._search_timer: Timer | None = None
        self.shown_query = ""
        """The search the list shows hits for; "" while it shows the plain list."""
        self.deleted_ids: set[int] = set()
        """Conversations deleted while the screen was open."""

    def compose(self) -> ComposeResult:
        with Vertical(id="conversations-panel") as panel:
            panel.border_title = "Conversations"
            yield Input(placeholder="Search all conversations  (/)", id="conversations-search")
            yield ConversationList(id="conversations-list")
        yield Footer()

    def on_mount(self) -> None:
        self._show_conversations(keep=self._current_id)

    # Keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("rename", "delete"):
            entry = self._list.highlighted_entry
            return True if entry is not None and entry.conversation_id is not None else None
        if action == "open":
            entry = self._list.highlighted_entry
            return True if entry is not None and entry.choice is not None else None
        return True

    def action_open(self) -> None:
        self._apply_pending_search()
        entry = self._list.highlighted_entry
        if entry is not None and entry.choice is not None:
            self.dismiss(entry.choice)

    def action_new(self) -> None:
        self.dismiss(NewConversation())

    def action_search(self) -> None:
        self.query_one(Input).focus()

    def action_results(self) -> None:
        self._list.focus()

    def action_close(self) -> None:
        if self._current_id is not None and self._current_id in self.deleted_ids:
            self.dismiss(NewConversation())
        else:
            self.dismiss(None)

    def action_rename(self) -> None:
        entry = self._list.highlighted_entry
        if entry is None or entry.conversation_id is None:
            return
        conversation_id = entry.conversation_id

        def rename(title: str | None) -> None:
            if title is None:
                return
            try:
                self._store.rename(conversation_id, title)
            except StoreError as error:
                self.notify(str(error), severity="error", markup=False)
            self._reload(keep=conversation_id)

        self.app.push_screen(RenameConversationScreen(entry.title), rename)

    def action_delete(self) -> None:
        entry = self._list.highlighted_entry
        if entry is None or entry.conversation_id is None:
            return
        conversation_id, index = entry.conversation_id, self._list.highlighted

        def delete(confirmed: bool | None) -> None:
            if not confirmed:
                return
            try:
                self._store.delete(conversation_id)
            except StoreError as error:
                self.notify(str(error), severity="error", markup=False)
            else:
                self.deleted_ids.add(conversation_id)
            self._reload(index=index)

        self.app.push_screen(ConfirmDeleteScreen(entry.title, entry.message_count), delete)

    # Events

    @on(OptionList.OptionSelected, "#conversations-list")
    def open_clicked(self, event: OptionList.OptionSelected) -> None:
        if isinstance(event.option, _Entry) and event.option.choice is not None:
            self.dismiss(event.option.choice)

    @on(OptionList.OptionHighlighted, "#conversations-list")
    def update_keys(self) -> None:
        self.refresh_bindings()

    @on(Input.Changed, "#conversations-search")
    def schedule_search(self) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(SEARCH_DELAY, self._apply_search)

    # The list

    @property
    def _list(self) -> ConversationList:
        return self.query_one(ConversationList)

    def _apply_pending_search(self) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
            self._search_timer = None
            self._apply_search()

    def _apply_search(self) -> None:
        self._search_timer = None
        query = self.query_one(Input).value.strip()
        if query != self.shown_query:
            self._reload(query=query)

    def _reload(
        self, *, query: str | None = None, keep: int | None = None, index: int | None = None
    ) -> None:
        """Fill the list again, highlighting conversation `keep`, or else row `index`."""
        query = self.shown_query if query is None else query
        if query:
            self._show_hits(query, keep=keep, index=index)
        else:
            self._show_conversations(keep=keep, index=index)

    def _show_conversations(self, *, keep: int | None = None, index: int | None = None) -> None:
        try:
            summaries = self._store.list_conversations()
        except StoreError as error:
            self.notify(str(error), severity="error", markup=False)
            summaries = []
        new = _Entry(_Columns([(Content("+ New chat"), Content.styled("n", _META))]),
                     NewConversation())
        entries = [new, *(self._conversation_entry(summary) for summary in summaries)]
        self.shown_query = ""
        self._fill(entries, keep=keep, index=index, first=1)

    def _show_hits(self, query: str, *, keep: int | None = None, index: int | None = None) -> None:
        try:
            hits = self._store.search(query)
        except StoreError as error:
            self.notify(str(error), severity="error", markup=False)
            hits = []
        entries = [self._hit_entry(hit) for hit in hits]
        if not entries:
            entries = [_Entry(_Columns([(Content.styled("No matches", _META), Content())]), None)]
        self.shown_query = query
        self._fill(entries, keep=keep, index=index, first=0)

    def _fill(
        self, entries: list[_Entry], *, keep: int | None, index: int | None, first: int
    ) -> None:
        listing = self._list
        listing.set_options(entries)
        target = next(
            (at for at, entry in enumerate(entries)
             if keep is not None and entry.conversation_id == keep),
            None,
        )
        if target is None:
            target = min(index, len(entries) - 1) if index is not None else first
        listing.highlighted = max(0, min(target, len(entries) - 1))
        self.refresh_bindings()

    def _conversation_entry(self, summary: ConversationSummary) -> _Entry:
        title = _clean(summary.title)
        marker = "● " if summary.id == self._current_id else "  "
        shown = Content(title) if title else Content.styled(UNTITLED, _META)
        count = summary.message_count
        noun = "message " if count == 1 else "messages"
        meta = Content.styled(f"{count:>4} {noun}  {self._date(summary.updated_at)}", _META)
        return _Entry(
            _Columns([(Content(marker) + shown, meta)]),
            OpenConversation(summary.id),
            conversation_id=summary.id,
            title=title,
            message_count=count,
        )

    def _hit_entry(self, hit: SearchHit) -> _Entry:
        title = _clean(hit.title)
        # The store cleans snippets the same way; spans index its text, so it is used as is.
        snippet = Content(sanitize_line(hit.snippet))
        for start, end in hit.highlights:
            snippet = snippet.stylize(_MATCH, start, end)
        if hit.message_id is None:
            lines = [(snippet, Content.styled("title", _META))]
        else:
            shown = Content(title) if title else Content.styled(UNTITLED, _META)
            role = {"user": "you"}.get(hit.role or "", hit.role or "")
            lines = [(shown, Content.styled(role, _META)), (Content("  ") + snippet, Content())]
        return _Entry(
            _Columns(lines),
            OpenConversation(hit.conversation_id, hit.message_id),
            conversation_id=hit.conversation_id,
            title=title,
        )

    def _date(self, moment: datetime) -> str:
        return moment.astimezone(self._timezone).strftime(DATE_FORMAT)


class RenameConversationScreen(PacedUpdates, ModalScreen[str | None]):
    """Asks for a conversation's new title; dismisses with it, or None if cancelled."""

    DEFAULT_CSS = """
    RenameConversationScreen {
        align: center middle;
        #rename-box {
            width: 70;
            max-width: 96%;
            height: auto;
            border: round $primary;
            border-title-color: $text-primary;
            background: $surface;
            padding: 1 2;
        }
        #rename-buttons {
            height: auto;
            align-horizontal: right;
            margin-top: 1;
            Button {
                margin-left: 1;
            }
        }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="rename.cancel"),
    ]

    def __init__(self, title: str) -> None:
        super().__init__()
        self._title = title

    def compose(self) -> ComposeResult:
        with Vertical(id="rename-box") as box:
            box.border_title = "Rename conversation"
            yield Input(self._title, placeholder="Title", id="rename-title")
            with Horizontal(id="rename-buttons"):
                yield Button("Save", variant="primary", id="rename-save")
                yield Button("Cancel", id="rename-cancel")

    @on(Input.Submitted, "#rename-title")
    @on(Button.Pressed, "#rename-save")
    def save(self) -> None:
        self.dismiss(self.query_one(Input).value)

    @on(Button.Pressed, "#rename-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmDeleteScreen(PacedUpdates, ModalScreen[bool]):
    """Asks before a conversation is deleted for good; dismisses with True to delete."""

    DEFAULT_CSS = """
    ConfirmDeleteScreen {
        align: center middle;
        #delete-box {
            width: 64;
            max-width: 96%;
            height: auto;
            border: round $error;
            border-title-color: $text-error;
            background: $surface;
            padding: 1 2;
        }
        #delete-buttons {
            height: auto;
            align-horizontal: right;
            margin-top: 1;
            Button {
                margin-left: 1;
            }
        }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "Delete", id="confirm-delete.yes"),
        Binding("n,escape", "cancel", "Keep", id="confirm-delete.no"),
    ]

    AUTO_FOCUS = "#delete-cancel"
    """Enter right away keeps the conversation: deleting takes a deliberate key."""

    def __init__(self, title: str, message_count: int | None = None) -> None:
        super().__init__()
        self._title = title
        self._message_count = message_count

    def compose(self) -> ComposeResult:
        name = Content(self._title) if self._title else Content(UNTITLED)
        question = Content.assemble("Delete “", name.stylize("bold"), "”?")
        if self._message_count is not None:
            noun = "message" if self._message_count == 1 else "messages"
            question += f"\nIts {self._message_count} {noun} will be gone for good."
        with Vertical(id="delete-box") as box:
            box.border_title = "Delete conversation"
            yield Static(question, id="delete-question")
            with Horizontal(id="delete-buttons"):
                yield Button("Delete (y)", variant="error", id="delete-confirm")
                yield Button("Keep (n)", id="delete-cancel")

    @on(Button.Pressed, "#delete-confirm")
    def action_confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#delete-cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)


def _clean(text: str) -> str:
    """One line, terminal-safe, runs of spaces folded."""
    return " ".join(sanitize_line(text).split())
