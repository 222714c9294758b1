"""The app's TabbedContent, without a race: focusing a widget in a hidden tab shows that tab, but Textual does it
through a message handled later (TabPane.Focused). When the keyboard has moved on by then (a tab key pressed right
after), the stale message would switch back to the old tab; here it is ignored, as is one for a tab other than the
one a key or command chose last."""

from __future__ import annotations

from textual.widgets import TabbedContent, TabPane


class AppTabs(TabbedContent):
    def _on_tab_pane_focused(self, event: TabPane.Focused) -> None:
        # Textual calls this class's handler, then TabbedContent's (which switches) unless default is prevented.
        focused = self.app.focused
        chosen = getattr(self.app, "chosen_tab", None)
        if focused is None or event.tab_pane not in focused.ancestors:
            event.prevent_default()  # the focus that posted it has moved elsewhere since
            event.stop()
        elif chosen is not None and event.tab_pane.id != chosen:
            # A focus nobody chose (the screen's start-up auto-focus of the Catalog table, landing after a first
            # tab key) must not take the user back: every tab change goes through the app's show_tab.
            event.prevent_default()
            event.stop()


__all__ = ["AppTabs"]
